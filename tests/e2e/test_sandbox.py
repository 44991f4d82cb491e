"""The README's first command: bin/reconcile --env dev --sandbox, with no AWS environment at all."""
from __future__ import annotations

import os
import subprocess
import sys

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
    assert "16 to create." in out[plan:apply]
    assert "16 created." in out[apply:second]
    assert "No changes." in out[second:]
    assert "with 0 mutating)" in out[second:]
    assert "VpcId            vpc-" in out[second:]
    assert "Traceback" not in proc.stderr
