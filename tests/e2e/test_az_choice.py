"""The stack's AZs through the real bin/reconcile and a moto server (docs/aws-behaviours.md C-AZ-1):
the plan names them and why, skipping an AZ that does not offer the DB class; a region where fewer
than two offer everything is refused in one line before any change.

An AZ stops offering the class through the fidelity control (sandbox/fidelity/rds_orderable.py);
``/fidelity/reset`` puts it back for the tests that follow on this server.
"""
from __future__ import annotations

from tests.fidelity.test_clock_control import post


def withhold(server, *zone_ids: str) -> None:
    for zone_id in zone_ids:
        post(server, "/fidelity/fail", {"kind": "rds-orderable", "key": f"db.t3.medium@{zone_id}"})


def test_the_plan_names_the_azs_that_offer_the_stack_and_too_few_is_refused(cli, server, state_dir):
    try:
        withhold(server, "use1-az6")  # us-east-1a
        planned = cli("reconcile", "--env", "dev", "--plan")
        assert planned.code == 2, planned.stderr
        assert planned.stdout.splitlines()[0] == (
            "AZs use1-az1 (us-east-1b), use1-az2 (us-east-1c): offer db.t3.medium, cache.t3.micro and Fargate")

        withhold(server, "use1-az1", "use1-az2", "use1-az4")
        server.clear_recording()
        refused = cli("reconcile", "--env", "dev")
        assert refused.code == 1 and refused.stdout == "" and "Traceback" not in refused.stderr
        [line] = refused.stderr.strip().splitlines()
        assert line.startswith("error: only 1 AZ(s) of us-east-1 offer db.t3.medium, cache.t3.micro and Fargate, "
                               "the stack needs 2: use1-az6 (us-east-1a) lacks db.t3.medium;"), line
        assert server.mutating_calls() == []
        assert not (state_dir / "dev.us-east-1.json").exists()
    finally:
        post(server, "/fidelity/reset")
