"""Region names: refused by their shape before any call, never a real region refused; an
endpoint's HTML page never becomes the error line."""
from __future__ import annotations

import pytest

from orchestrator.errors import UserError


def test_every_region_botocore_knows_passes_the_shape_check_and_is_known():
    from botocore.loaders import create_loader

    from orchestrator.names import known_regions, validate_region

    # endpoints.json: every region any service has an endpoint in (1 MB: too slow for every run).
    endpoints = {r for p in create_loader().load_data("endpoints")["partitions"] for r in p["regions"]}
    assert {"us-east-1", "us-gov-west-1", "cn-north-1", "us-isob-east-1", "eusc-de-east-1"} <= endpoints
    assert [r for r in sorted(endpoints) if validate_region(r) != r] == []
    assert endpoints <= set(known_regions())
    assert [r for r in known_regions() if validate_region(r) != r] == []


@pytest.mark.parametrize("region", ["mars-1", "us-east1", "useast-1", "US-EAST-1", "us-east-1 ", "us-east-", "1-us-east",
                                    "us_east_1", "../x-y-1", ""])
def test_a_name_no_region_can_have_is_refused(region):
    from orchestrator.names import validate_region

    with pytest.raises(UserError) as err:
        validate_region(region)
    assert err.value.user_message.startswith(f"unknown AWS region {region!r}: AWS region names look like us-east-1")


def test_an_endpoint_answering_html_is_one_line_without_the_page():
    from botocore.parsers import ResponseParserError

    from orchestrator.cli import one_line

    page = "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n"
    line = one_line(ResponseParserError(f"Unable to parse response, invalid XML received: b'{page}'"))
    assert "html" not in line.lower() and "\n" not in line
    assert line.startswith("the AWS endpoint answered with something other than an AWS API response")
