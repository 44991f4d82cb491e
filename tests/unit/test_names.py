import pytest

from orchestrator.errors import UserError
from orchestrator.names import ENV_MAX, validate_env


@pytest.mark.parametrize("env", ["dev", "prod", "staging-2", "a", "a1-b2-c3", "x" * ENV_MAX])
def test_valid_names(env):
    assert validate_env(env) == env


@pytest.mark.parametrize(
    "env,why",
    [
        ("Dev_1", "lowercase"), ("-dev", "lowercase"), ("prod;rm", "lowercase"), ("../etc", "lowercase"),
        ("", "empty"), (None, "empty"), ("a" * 64, "at most 20"), ("x" * (ENV_MAX + 1), "at most 20"),
        ("dev-", "lowercase"), ("de--v", "lowercase"), ("1dev", "lowercase"), ("dév", "lowercase"),
        ("dev\nx", "lowercase"), ("dev ", "lowercase"),
    ],
)
def test_invalid_names_are_one_line(env, why):
    with pytest.raises(UserError) as err:
        validate_env(env)
    message = err.value.user_message
    assert why in message and "\n" not in message

