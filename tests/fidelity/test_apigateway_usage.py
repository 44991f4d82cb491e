"""GetUsage on the fidelity layer (sandbox/fidelity/apigateway.py; docs/aws-behaviours.md A-49,
C-APIGW-2): moto has no route for it; the layer answers AWS's shape, per key and UTC day, from
the use a test records."""
from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from sandbox.fidelity.apigateway import record_usage
from tests.conftest import REGION


@pytest.fixture
def plan_and_keys(moto_aws):
    apigw = boto3.client("apigateway", region_name=REGION)
    plan = apigw.create_usage_plan(name="plan")["id"]
    keys = [apigw.create_api_key(name=name, enabled=True)["id"] for name in ("one", "two")]
    for key in keys:
        apigw.create_usage_plan_key(usagePlanId=plan, keyId=key, keyType="API_KEY")
    return apigw, plan, keys


def test_use_is_answered_per_key_and_day_from_start_to_end(plan_and_keys):
    apigw, plan, (one, two) = plan_and_keys
    record_usage(plan, one, "2026-03-02", 7, region=REGION)
    record_usage(plan, one, "2026-03-02", 1, region=REGION)
    record_usage(plan, one, "2026-03-09", 5, region=REGION)  # outside the dates asked
    usage = apigw.get_usage(usagePlanId=plan, startDate="2026-03-01", endDate="2026-03-03")
    assert (usage["usagePlanId"], usage["startDate"], usage["endDate"]) == (plan, "2026-03-01", "2026-03-03")
    assert usage["items"] == {one: [[0, 0], [8, 0], [0, 0]], two: [[0, 0], [0, 0], [0, 0]]}
    # keyId: that key only.
    assert apigw.get_usage(usagePlanId=plan, keyId=two, startDate="2026-03-02", endDate="2026-03-02")["items"] == {two: [[0, 0]]}


def test_an_unknown_plan_is_not_found(plan_and_keys):
    apigw, *_ = plan_and_keys
    with pytest.raises(ClientError) as err:
        apigw.get_usage(usagePlanId="nope", startDate="2026-03-01", endDate="2026-03-02")
    assert err.value.response["Error"]["Code"] == "NotFoundException"
