"""Ctrl-C during apply: no new change starts, those in flight finish, the report is printed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.fixtures.sandbox import REPO, Sandbox
from tests.reconcile_helpers import sipctl, write_config


def _config(n: int) -> str:
    lines = ["outbound_trunks:"]
    for i in range(n):
        lines += [
            f"  t{i:02d}:",
            "    address: sip.example.com",
            f'    numbers: ["+1555010{i:04d}"]',
        ]
    return "\n".join(lines) + "\n"


def test_ctrl_c_stops_new_changes_and_reports(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config", _config(20))
    sandbox.set_faults(latency_ms=400)
    env = {**os.environ, **sandbox.env, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "sipctl", "apply", "--config", str(cfg)]
    argv += ["--auto-approve", "--no-verify", "--parallelism", "2"]
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # wait until some creates have started, then interrupt
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if sandbox.state()["requests_by_method"].get("CreateSIPOutboundTrunk", 0) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    lines = out.splitlines()
    applied = [line for line in lines if line.startswith("applied ")]
    skipped = [line for line in lines if line.startswith("not attempted  ")]
    assert applied and skipped
    assert all(line.endswith("interrupted before it started") for line in skipped)
    assert not any(line.startswith("failed ") for line in lines)  # in-flight ones finished
    summary = next(line for line in lines if line.startswith("Apply interrupted: "))
    assert (
        summary
        == f"Apply interrupted: {len(applied)} applied, 0 failed, {len(skipped)} not attempted."
    )
    assert len(applied) + len(skipped) == 20
    live = sandbox.state()["sip_outbound_trunks"]
    assert len(live) == len(applied)

    sandbox.clear_faults()
    plan = sipctl(sandbox, cfg, "plan")
    assert (
        plan.stdout.splitlines()[-1] == f"Plan: {len(skipped)} to create, 0 to update, 0 to delete."
    )
