import pytest

from orchestrator.config import EnvConfig, load_config
from orchestrator.errors import UserError


def write(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return str(path)


def test_no_file_gives_the_seed_defaults():
    cfg = load_config(None, "dev")
    assert cfg == EnvConfig()
    assert (cfg.db_instance_class, cfg.redis_node_type, cfg.redis_num_nodes) == ("db.t3.medium", "cache.t3.micro", 2)
    assert cfg.deletion_protection is False


@pytest.mark.parametrize("env,protected", [("prod", True), ("production", True), ("prod-eu", True), ("dev", False), ("product", False)])
def test_production_like_environments_are_protected_by_default(env, protected):
    assert load_config(None, env).deletion_protection is protected


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
    prod = load_config(path, "prod")
    assert (prod.vpc_cidr, prod.tags) == ("10.1.0.0/16", {"CostCenter": "video", "Team": "platform"})
    dev = load_config(path, "dev")
    assert (dev.vpc_cidr, dev.tags) == ("10.0.0.0/16", {"CostCenter": "video", "Team": "media"})


@pytest.mark.parametrize(
    "text,fragment",
    [
        ('[defaults]\nvpc_cidr = "10.0.0.0/8"', "prefix length"),
        ('[defaults]\nvpc_cidr = "10.0.0.1/16"', "not an IPv4 network"),
        ('[defaults]\nvpc_cidr = 5', "vpc_cidr must be a string"),
        ('[defaults]\napi_cpu = 256\napi_memory = 4096', "api_memory = 4096 is not allowed (allowed: 512, 1024, 2048)"),
        ('[defaults]\nworker_cpu = 300', "worker_cpu = 300 is not allowed"),
        ('[defaults]\nlog_retention_days = 31', "log_retention_days = 31 is not allowed (allowed: 1, 3, 5, 7, 14, 30"),
        ('[defaults]\ndb_log_retention_days = 366', "db_log_retention_days = 366 is not allowed (allowed: 1, 3, 5, 7, 14"),
        ('[defaults]\nredis_num_nodes = 1', "redis_num_nodes = 1 is not allowed (from 2 to 6)"),
        ('[defaults]\nredis_engine_version = "3.2.4"', "Redis OSS 5.0.6 or later"),
        ('[defaults]\ndb_instance_class = "m5.large"', "an RDS class such as db.t3.medium"),
        ('[defaults]\ndb_backup_retention_days = 0', "from 1 to 35"),
        ('[defaults]\ndb_monitoring_interval = 2', "allowed: 0, 1, 5, 10, 15, 30, 60"),
        ('[defaults]\ndeletion_protection = "yes"', "deletion_protection must be true or false"),
        ('[defaults]\napi_desired_count = true', "api_desired_count must be an integer"),
        ('[environments.dev]\napi_image = "bad image"', "a container image reference"),
        ('[defaults]\nvcp_cidr = "10.0.0.0/16"', "unknown key 'vcp_cidr'"),
        ('[default]\nvpc_cidr = "10.0.0.0/16"', "unknown table 'default'"),
        ('[defaults.tags]\nName = "x"', "tags.Name is set by the tool"),
        ('[defaults.tags]\n"aws:x" = "y"', "aws: prefix"),
        ('[defaults.tags]\nTeam = 3', "tags.Team"),
        ("[defaults\n", "not valid TOML"),
        ('[defaults]\nsecret_rotation_days = -1', "secret_rotation_days = -1 is not allowed (from 0 to 3650)"),
        ('[defaults]\nsecret_rotation_days = 30.5', "secret_rotation_days must be an integer"),
        ('[defaults]\napi_key_rotation_grace_hours = 721', "api_key_rotation_grace_hours = 721 is not allowed (from 24 to 720)"),
        ('[defaults]\napi_key_rotation_grace_hours = 0', "api_key_rotation_grace_hours = 0 is not allowed (from 24 to 720)"),
        ('[environments.dev]\naccount_id = "12345678901"', "account_id = '12345678901' is not allowed (an AWS account ID: 12"),
        ('[environments.dev]\naccount_id = "12345678901a"', "account_id = '12345678901a' is not allowed"),
        ('[environments.dev]\naccount_id = 123456789012', "account_id must be a string, got 123456789012"),
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


def test_account_id_is_read_per_environment(tmp_path):
    path = write(tmp_path, '[environments.prod]\naccount_id = "012345678901"\n')
    assert load_config(path, "prod").account_id == "012345678901"
    assert load_config(path, "dev").account_id == ""


def test_an_environment_naming_no_account_records_the_same_values_and_hash_as_before_the_key():
    # The hash every existing state records must not move: upgrading the tool changes no plan.
    from orchestrator.config import ChosenConfig

    assert "account_id" not in ChosenConfig(EnvConfig(), "file", "c.toml").values
    named = ChosenConfig(EnvConfig(account_id="123456789012"), "file", "c.toml")
    assert named.values["account_id"] == "123456789012" and named.hash != ChosenConfig(EnvConfig(), "file", "c.toml").hash
