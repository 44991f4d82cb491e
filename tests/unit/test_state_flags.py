"""--state URL with --state-dir as its alias; argparse abbreviations off on every parser."""
import pytest

from orchestrator.cli import build_parser
from orchestrator.errors import UserError
from orchestrator.state_cli import build_parser as build_state_parser


@pytest.mark.parametrize("command", ["reconcile", "teardown", "drift"])
def test_state_and_its_alias(command):
    parser = build_parser(command)
    assert parser.parse_args(["--env", "dev", "--state", "s3://b-b/p"]).state == "s3://b-b/p"
    assert parser.parse_args(["--env", "dev", "--state-dir", "/tmp/x"]).state == "/tmp/x"


@pytest.mark.parametrize("command", ["reconcile", "teardown", "drift"])
@pytest.mark.parametrize("abbreviation", ["--state-d", "--sta", "--reg"])
def test_a_flag_is_never_guessed_from_a_prefix(command, abbreviation):
    with pytest.raises(UserError, match=f"unrecognized arguments: {abbreviation}"):
        build_parser(command).parse_args(["--env", "dev", abbreviation, "x"])


@pytest.mark.parametrize("argv", [["list", "--sta", "x"], ["show", "--env", "dev", "--state-d", "x"],
                                  ["move", "--env", "dev", "--fr", "a", "--to", "b"]])
def test_bin_state_guesses_no_flag_either(argv):
    with pytest.raises(UserError, match="unrecognized arguments|required"):
        build_state_parser().parse_args(argv)
