"""The README's quick start on a fresh checkout: a clean clone in a temporary folder and a
new virtual environment, then the demo command end to end (the apt step is skipped when
kamailio and sipp are already installed, as `./dev` does)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.sip,
    pytest.mark.skipif(
        shutil.which("kamailio") is None
        or shutil.which("sipp") is None
        or not (ROOT / ".git").exists(),
        reason="needs kamailio, sipp and a git checkout",
    ),
]


def test_demo_from_a_clean_clone(tmp_path: Path) -> None:
    clone = tmp_path / "sipctl"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT_", "SIPCTL_"))}
    env.pop("VIRTUAL_ENV", None)
    env["SIPCTL_VENV"] = str(tmp_path / "venv")  # a brand-new environment
    proc = subprocess.run(
        ["./dev", "demo"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    # a plan, the applied changes, a verification dial answered through Kamailio, a check
    assert "Plan: 2 to create, 0 to update, 0 to delete." in out
    assert "applied        + create outbound_trunk acme-us " in out
    assert "PASS     acme-us-answers: answered in" in out
    assert "Verification: 2 passed, 0 failed." in out
    assert "FAIL     acme-us-ringing-line: no answer within 3s" in out
    assert "3 test calls: 2 passed, 0 degraded, 1 failed, 0 errors" in out
    assert "Stopped the sandbox and the provider." in out
    # the demo installed what it needs, not the dev tools
    venv_bin = tmp_path / "venv" / "bin"
    assert (venv_bin / "sipctl").exists()
    for tool in ("pytest", "ruff", "mypy", "twine"):
        assert not (venv_bin / tool).exists(), f"./dev demo installed {tool}"
    # it left nothing running: no sandbox from the new venv, no kamailio/sipp of the demo
    for pattern in (str(tmp_path), "sipctl-demo-"):
        leftovers = subprocess.run(
            ["pgrep", "-af", pattern], capture_output=True, text=True, check=False
        ).stdout
        assert leftovers == "", leftovers
