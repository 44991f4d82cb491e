"""bin/reconcile of a second environment in a Region whose Elastic IP quota it would pass: the plan
refuses it, one line naming the quota and how to raise it, before any mutating call
(docs/aws-behaviours.md C-QUOTA-1, D-QUOTA-1). The test server enforces the quotas its Service
Quotas answers (sandbox/fidelity/quotas.py): without the refusal the create would stop at
AllocateAddress with half the environment made.
"""
from __future__ import annotations

from tests.fidelity.test_clock_control import post

LINE = ("error: eip.1: quota EC2-VPC Elastic IPs (L-0263D0A3) in us-east-1: 4 in use + 2 to create = 6, over the "
        "limit of 5 (the account's quota); raise it in the Service Quotas console, or: aws service-quotas "
        "request-service-quota-increase --service-code ec2 --quota-code L-0263D0A3 --desired-value 6 --region us-east-1")


def test_a_second_environment_past_the_address_quota_is_refused_and_the_first_still_reconciles(cli, reader, server, state_dir):
    assert post(server, "/fidelity/quotas", {"enforced": True}) == {"enforced": True, "denied": False}
    first = cli("reconcile", "--env", "first")
    assert first.code == 0, first.stderr
    ec2 = reader("ec2")
    for _ in range(2):  # addresses someone else holds in the Region: 4 of 5 in use
        ec2.allocate_address(Domain="vpc")

    server.clear_recording()
    plan = cli("reconcile", "--env", "second", "--plan")
    assert plan.code == 1 and LINE in plan.stderr.splitlines(), plan.stderr
    second = cli("reconcile", "--env", "second", "--json")
    assert second.code == 1, second.stderr
    assert second.stderr.splitlines()[-2:] == [LINE, "error: nothing was changed"]
    assert second.json["failed"] == [{"resource": "eip.1", "status": "refused", "reason": LINE.split(": ", 2)[2]}]
    assert server.mutating_calls() == []
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:Environment", "Values": ["second"]}])["Vpcs"] == []
    assert not (state_dir / "second.us-east-1.json").exists()  # no configuration recorded to finish later

    # The first environment re-uses what it has: nothing to count, nothing refused, not one write.
    server.clear_recording()
    again = cli("reconcile", "--env", "first", "--json")
    assert again.code == 0 and again.json["changes"] == [], again.stderr
    assert server.mutating_calls() == []
    assert [c for c in server.calls() if c.service == "servicequotas"] == []
