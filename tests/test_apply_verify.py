"""Verification dials after apply, through the sandbox bridge and Kamailio + SIPp."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sipctl.sandbox.provider import NUMBERS, Provider
from tests.fixtures.sandbox import Sandbox
from tests.reconcile_helpers import sipctl, write_config

pytestmark = pytest.mark.sip
ENV = {"PROV_PASSWORD": "trunkpass"}


def _config(address: str, header: str = "a", lonely: str = "x") -> str:
    return f"""
    outbound_trunks:
      prov:
        address: "{address}"
        numbers: ["+15550001111"]
        auth: {{username: trunkuser, password: "${{PROV_PASSWORD}}"}}
        headers: {{X-Rev: "{header}"}}
      lonely:
        address: "{address}"
        numbers: ["+15550001112"]
        headers: {{X-Rev: "{lonely}"}}
    test_calls:
      answer:
        trunk: prov
        to: "{NUMBERS["answer"]}"
        ringing_timeout: 5s
        hold: 300ms
      busy-expected:
        trunk: prov
        to: "{NUMBERS["busy"]}"
        expect: {{sip_status: 486}}
        ringing_timeout: 5s
      not-on-apply:
        trunk: prov
        to: "{NUMBERS["answer"]}"
        verify_on_apply: false
    settings:
      jitter: 0s
    """


def test_verification_dials_are_reported_and_exit_3_on_failure(
    sandbox: Sandbox, provider: Provider, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path / "config", _config(provider.address))
    res = sipctl(sandbox, cfg, "apply", "--auto-approve", env=ENV)
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "Verification dials:" in out
    assert any(line.startswith("  PASS     answer: answered") for line in out.splitlines()), out
    assert any(
        line.startswith("  PASS     busy-expected:") and "486" in line for line in out.splitlines()
    ), out
    assert "not-on-apply" not in out
    assert "Verification: 2 passed, 0 failed." in out
    assert "Warning: outbound trunk 'lonely' changed but no test call verifies it on apply" in out

    # only 'lonely' changes: nothing to dial
    cfg = write_config(cfg, _config(provider.address, lonely="y"))
    res = sipctl(sandbox, cfg, "apply", "--auto-approve", env=ENV)
    assert res.exit_code == 0 and "Verification dials:" not in res.stdout

    # prov changes and a call through it now fails: exit 3, reported as JSON too
    failing = f"""
    test_calls:
      busy-unexpected:
        trunk: prov
        to: "{NUMBERS["busy"]}"
        ringing_timeout: 5s
    """
    write_config(cfg, failing, name="more-calls.yaml")
    cfg = write_config(cfg, _config(provider.address, header="b"))
    res = sipctl(sandbox, cfg, "apply", "--auto-approve", "--format", "json", env=ENV)
    assert res.exit_code == 3, res.output
    report = json.loads(res.stdout)
    assert report["ok"] is True and report["exit_code"] == 3
    results = {r["name"]: r for r in report["verification"]["results"]}
    assert results["busy-unexpected"]["verdict"] == "fail"
    assert results["busy-unexpected"]["sip_status_code"] == 486
    assert results["answer"]["verdict"] == "pass" and results["answer"]["time_to_answer"] > 0
    assert report["verification"] == {**report["verification"], "passed": 2, "failed": 1}


def test_no_verify_skips_the_dials(sandbox: Sandbox, provider: Provider, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config", _config(provider.address))
    res = sipctl(sandbox, cfg, "apply", "--auto-approve", "--no-verify", env=ENV)
    assert res.exit_code == 0, res.output
    assert "Verification dials skipped: --no-verify." in res.stdout
    assert sandbox.state()["requests_by_method"].get("CreateSIPParticipant", 0) == 0


def test_ctrl_c_during_verification_hangs_up_and_reports(
    sandbox: Sandbox, provider: Provider, tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.fixtures.sandbox import REPO

    cfg = write_config(
        tmp_path / "config",
        f"""
        outbound_trunks:
          prov:
            address: "{provider.address}"
            numbers: ["+15550001111"]
            auth: {{username: trunkuser, password: "${{PROV_PASSWORD}}"}}
        test_calls:
          rings:
            trunk: prov
            to: "{NUMBERS["ringing"]}"
            ringing_timeout: 30s
        """,
    )
    env = {**os.environ, **sandbox.env, **ENV, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "sipctl", "apply", "--config", str(cfg), "--auto-approve"]
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if sandbox.state()["requests_by_method"].get("CreateSIPParticipant", 0) >= 1:
            break
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert "Apply complete: 1 applied, 0 failed, 0 not attempted." in out
    assert "Verification dials interrupted (Ctrl-C)." in out
    assert "Traceback" not in err
    assert sandbox.state()["rooms"] == []  # the probe hung up and its room was deleted
