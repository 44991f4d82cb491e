"""Ctrl-C and SIGTERM during a first create with a configuration: the next plain run finishes it.

The kill sweep (test_kill_at_every_call.py) SIGKILLs a first create asked for a non-default
configuration after every one of its mutating calls and checks that a plain run (no --config)
ends with those settings. Here the same with the signals a person or a service manager sends,
which the run handles itself (exit 1, one line, no traceback), and with deletion protection on:
the setting a reset to the defaults would silently turn off.

The sample (each k costs a partial and a full create): the first mutating call (the VPC, before
anything else exists), the RDS instance's create (the long pole, which carries deletion
protection), the NLB's create (the other protected resource), a call in the middle of the
services, and the last call of the run.
"""
from __future__ import annotations

import signal

import pytest

from tests.faults.test_kill_at_every_call import N_MUTATING_CALLS
from tests.faults.harness import (
    ASKED_CONFIG, ENV, assert_asked_settings, assert_one_of_each, killed_create, write_asked_config,
)

PROTECTED = ASKED_CONFIG + "deletion_protection = true\n"

SAMPLE = [
    pytest.param(1, signal.SIGINT, id="k1-CreateVpc-SIGINT"),
    pytest.param(25, signal.SIGINT, id="k25-CreateDBInstance-SIGINT"),
    pytest.param(35, signal.SIGTERM, id="k35-CreateLoadBalancer-SIGTERM"),
    pytest.param(72, signal.SIGINT, id="k72-CreateService-SIGINT"),
    pytest.param(N_MUTATING_CALLS, signal.SIGTERM, id="last-call-SIGTERM"),
]


@pytest.mark.parametrize(("k", "sig"), SAMPLE)
def test_interrupted_first_create_is_finished_with_the_asked_settings(k, sig, cli_direct, proxy, reader, state_dir,
                                                                     tmp_path):
    config = write_asked_config(tmp_path, PROTECTED)
    _, stopped = killed_create(proxy, k, state_dir, tmp_path, args=("--config", config), sig=sig)
    where = f"k={k} ({signal.Signals(sig).name} right after {stopped})"

    again = cli_direct("reconcile", "--env", ENV)
    assert again.code == 0, f"{where}: the plain run after the interrupt failed: {again.stderr[-3000:]}"
    assert_one_of_each(reader, state_dir, where)
    assert_asked_settings(reader, state_dir, where, protected=True)
    nlb = reader("elbv2").describe_load_balancers(Names=[f"api-nlb-{ENV}"])["LoadBalancers"][0]
    attributes = reader("elbv2").describe_load_balancer_attributes(LoadBalancerArn=nlb["LoadBalancerArn"])["Attributes"]
    assert {"Key": "deletion_protection.enabled", "Value": "true"} in attributes, f"{where}: NLB {attributes}"
