"""`--state URL` / $VIDEO_PIPELINE_STATE: a directory or s3://BUCKET/PREFIX, nothing guessed."""
from pathlib import Path

import pytest

from state import StateLocation, StateLocationError, parse_location, resolve_location


@pytest.mark.parametrize("value, bucket, prefix", [
    ("s3://team-state/video/pipeline", "team-state", "video/pipeline"),
    ("s3://team-state/video/pipeline/", "team-state", "video/pipeline"),
    ("s3://team-state", "team-state", ""),
    ("s3://team.state-1/", "team.state-1", ""),
])
def test_s3_urls(value, bucket, prefix):
    location = parse_location(value)
    assert (location.is_s3, location.bucket, location.prefix) == (True, bucket, prefix)
    assert location.key("dev.us-east-1.json") == f"{prefix}/dev.us-east-1.json".lstrip("/")


@pytest.mark.parametrize("value", ["s3:/team-state/x", "s3:team-state", "s3://", "s3://UPPER/x", "s3://ab/x",
                                   "s3://team-state/../x", "gs://bucket/x", "https://example.com/x", ""])
def test_urls_that_are_not_a_location_are_refused_not_taken_as_a_directory(value):
    with pytest.raises(StateLocationError) as info:
        parse_location(value)
    assert "\n" not in str(info.value)


def test_directories(tmp_path):
    assert parse_location(str(tmp_path)) == StateLocation(path=tmp_path)
    assert parse_location(f"file://{tmp_path}") == StateLocation(path=tmp_path)
    assert parse_location("relative/dir").path == Path("relative/dir")


def test_flag_then_environment_then_default(tmp_path):
    default = tmp_path / "default"
    env = {"VIDEO_PIPELINE_STATE": "s3://team-state/p"}
    assert resolve_location(None, default, {}) == StateLocation(path=default)
    assert resolve_location(None, default, env).bucket == "team-state"
    assert resolve_location(str(tmp_path), default, env) == StateLocation(path=tmp_path)
