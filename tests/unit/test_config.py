import pytest

from orchestrator.config import EnvConfig, load_config
from orchestrator.errors import UserError


def write(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return str(path)


def test_no_file_gives_the_seed_defaults():
    assert load_config(None, "dev") == EnvConfig(vpc_cidr="10.0.0.0/16", tags={})


def test_environment_table_overrides_defaults_and_tags_merge(tmp_path):
    path = write(tmp_path, """
[defaults]
vpc_cidr = "10.0.0.0/16"
[defaults.tags]
CostCenter = "video"
Team = "media"
[environments.prod]
vpc_cidr = "10.1.0.0/16"
[environments.prod.tags]
Team = "platform"
""")
    assert load_config(path, "prod") == EnvConfig("10.1.0.0/16", {"CostCenter": "video", "Team": "platform"})
    assert load_config(path, "dev") == EnvConfig("10.0.0.0/16", {"CostCenter": "video", "Team": "media"})


@pytest.mark.parametrize(
    "text,fragment",
    [
        ('[defaults]\nvpc_cidr = "10.0.0.0/8"', "prefix length"),
        ('[defaults]\nvpc_cidr = "10.0.0.1/16"', "not an IPv4 network"),
        ('[defaults]\nvpc_cidr = 5', "not an IPv4 network"),
        ('[defaults]\nvcp_cidr = "10.0.0.0/16"', "unknown key 'vcp_cidr'"),
        ('[default]\nvpc_cidr = "10.0.0.0/16"', "unknown table 'default'"),
        ('[defaults.tags]\nName = "x"', "tags.Name is set by the tool"),
        ('[defaults.tags]\n"aws:x" = "y"', "aws: prefix"),
        ('[defaults.tags]\nTeam = 3', "tags.Team"),
        ("[defaults\n", "not valid TOML"),
    ],
)
def test_bad_values_name_the_key_in_one_line(tmp_path, text, fragment):
    with pytest.raises(UserError) as err:
        load_config(write(tmp_path, text), "dev")
    assert fragment in err.value.user_message
    assert "\n" not in err.value.user_message


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(UserError, match="cannot read config"):
        load_config(str(tmp_path / "nope.toml"), "dev")
