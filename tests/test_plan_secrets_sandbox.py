"""Secrets end to end: a rotated password is detected (also when LiveKit masks passwords),
and its value appears nowhere: not in any output, saved plan or debug log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.sandbox import REPO, SandboxFactory
from tests.reconcile_helpers import write_config

OLD = "first-Pa55word-ab12"
NEW = "rotated-Pa55word-cd34"

CONFIG = """
    outbound_trunks:
      acme:
        address: sip.acme.example
        numbers: ["+15550100001"]
        auth: {username: trunkuser, password: "${ACME_PW}"}
    inbound_trunks:
      office:
        numbers: ["+15550200001"]
        auth: {username: office, password: "${OFFICE_PW}"}
"""


def run(
    sb: object, cfg: Path, *args: str, pw: str, debug: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **sb.env,  # type: ignore[attr-defined]
        "ACME_PW": pw,
        "OFFICE_PW": pw + "-in",
        "PYTHONPATH": str(REPO),
    }
    argv = [sys.executable, "-m", "sipctl", args[0], "--config", str(cfg), *args[1:]]
    if debug:
        argv.append("--debug")
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("mask", [False, True], ids=["returned", "masked"])
def test_rotated_secret_is_detected_and_never_printed(
    sandbox_factory: SandboxFactory, tmp_path: Path, mask: bool
) -> None:
    sb = sandbox_factory(mask_secrets=mask)
    cfg = write_config(tmp_path / "config", CONFIG)
    outputs: list[str] = []

    def sipctl(*args: str, pw: str) -> subprocess.CompletedProcess[str]:
        res = run(sb, cfg, *args, pw=pw)
        outputs.extend([res.stdout, res.stderr])
        return res

    res = sipctl("apply", "--auto-approve", "--no-verify", pw=OLD)
    assert res.returncode == 0, res.stderr
    res = sipctl("plan", "--detailed-exitcode", pw=OLD)
    assert res.returncode == 0 and res.stdout.startswith("No changes."), res.stdout + res.stderr

    saved = tmp_path / "plan.json"
    res = sipctl("plan", "--detailed-exitcode", "--out", str(saved), pw=NEW)
    assert res.returncode == 2, res.stderr
    assert "  ~ update outbound_trunk acme (ST_" in res.stdout
    assert "      auth.password: (sensitive value) -> (sensitive value)" in res.stdout
    assert res.stdout.splitlines()[-1] == "Plan: 0 to create, 2 to update, 0 to delete."
    for fmt in ("json", "markdown"):
        sipctl("plan", "--format", fmt, pw=NEW)
    res = sipctl("apply", str(saved), "--no-verify", "--format", "json", pw=NEW)
    assert res.returncode == 0, res.stderr
    res = sipctl("plan", pw=NEW)
    assert res.stdout.startswith("No changes."), res.stdout

    state = sb.state()
    stored = {t["name"]: t["auth_password"] for t in state["sip_outbound_trunks"]}
    assert stored == {"acme": NEW}  # the sandbox's own dump shows what was really stored

    texts = [*outputs, saved.read_text()]
    assert any("DEBUG" in t for t in texts)  # the debug logs were captured too
    for text in texts:
        for secret in (OLD, NEW, OLD + "-in", NEW + "-in", sb.api_secret):
            assert secret not in text
