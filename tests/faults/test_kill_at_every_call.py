"""SIGKILL right after every mutating AWS call of a full create, one k at a time.

For each k the proxy lets the k-th mutating call of `bin/reconcile --env dev` execute in moto,
then kills the command before the answer reaches it (AWS made the resource, the tool never saw
its id). The next `bin/reconcile` must converge to exactly one of each resource, all recorded in
the state, and `bin/teardown` must then leave nothing.

The killed run uses --parallelism 1 so that k names one call, the same on every run (a failure
message says which); the recovery runs use the default parallelism.
"""
from __future__ import annotations

import signal

import pytest

from tests.faults.harness import ENV, assert_nothing_left, assert_one_of_each, start

# Mutating AWS calls of a full create of env dev (measured by test_full_create_makes_...).
N_MUTATING_CALLS = 85


def killed_create(proxy, k: int, state_dir, workdir):
    proc = start("reconcile", "--env", ENV, "--parallelism", "1", endpoint=proxy.endpoint, state_dir=state_dir, workdir=workdir)
    proxy.kill_after(k, proc.pid)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL, (
        f"k={k}: the run ended with exit {proc.returncode} before its {k}th mutating call: {stderr[-1500:]}")
    killed = proxy.killed_call
    proxy.reset()
    return f"{killed.service} {killed.operation}"


def test_full_create_makes_the_expected_number_of_mutating_calls(cli, proxy, moto):
    result = cli("reconcile", "--env", ENV, "--parallelism", "1")
    assert result.code == 0, result.stderr
    through_proxy = len(proxy.mutating_executed())
    assert len(moto.mutating_calls()) == through_proxy
    assert through_proxy == N_MUTATING_CALLS, (
        f"a full create now makes {through_proxy} mutating calls, the kill-at-every-call test covers "
        f"{N_MUTATING_CALLS}: set N_MUTATING_CALLS = {through_proxy} in {__name__}")


@pytest.mark.parametrize("k", range(1, N_MUTATING_CALLS + 1))
def test_killed_after_call_k_then_reconcile_converges_and_teardown_leaves_nothing(
    k, cli_direct, proxy, reader, state_dir, tmp_path,
):
    killed = killed_create(proxy, k, state_dir, tmp_path)
    where = f"k={k} (killed right after {killed})"

    cli = cli_direct  # the runs after the crash need no fault
    again = cli("reconcile", "--env", ENV)
    assert again.code == 0, f"{where}: reconcile after the crash failed: {again.stderr[-3000:]}"
    assert_one_of_each(reader, state_dir, where)

    down = cli("teardown", "--env", ENV, "--yes")
    assert down.code == 0, f"{where}: teardown failed: {down.stderr[-3000:]}"
    assert_nothing_left(reader, where)


@pytest.mark.parametrize("k", [1, 17, 42, 70, N_MUTATING_CALLS])
def test_teardown_without_state_removes_what_a_killed_run_left(k, cli_direct, proxy, reader, state_dir, tmp_path):
    killed = killed_create(proxy, k, state_dir, tmp_path)
    removed = [p for p in state_dir.iterdir() if p.name.endswith((".json", ".json.bak"))]
    assert removed, "the killed run wrote no state"
    for path in removed:
        path.unlink()

    down = cli_direct("teardown", "--env", ENV, "--yes")
    assert down.code == 0, f"k={k} (killed right after {killed}): teardown without state failed: {down.stderr[-3000:]}"
    assert_nothing_left(reader, f"k={k} (killed right after {killed}), teardown without state")
