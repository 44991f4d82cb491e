"""The README's first command: bin/reconcile --env dev --sandbox, with no AWS environment at all."""
from __future__ import annotations

import os
import subprocess
import sys

from orchestrator.config import EnvConfig
from orchestrator.stack import stack_nodes
from tests.e2e.conftest import ROOT


def test_sandbox_shows_plan_apply_a_clean_second_pass_and_outputs(tmp_path):
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}  # no AWS variables whatsoever
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bin" / "reconcile"), "--env", "dev", "--sandbox"],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    plan, apply, second = (out.index(f"=== sandbox: {title}") for title in ("plan", "apply", "second pass"))
    assert plan < apply < second
    nodes = len(stack_nodes("dev", EnvConfig(), ["us-east-1a", "us-east-1b"]))
    assert f"{nodes} to create." in out[plan:apply]
    assert f"{nodes} created." in out[apply:second]
    assert "No changes." in out[second:]
    assert "with 0 mutating)" in out[second:]
    for key in ("VpcId", "EcsClusterName", "RdsEndpoint", "RedisEndpoint", "EfsFileSystemId", "ApiEndpoint", "DbSecretArn"):
        line = next(l for l in out[second:].splitlines() if l.startswith(key + " "))
        assert line.split()[1] not in ("null", ""), line
    assert "Traceback" not in proc.stderr
