"""Drift as a monitored signal (issue #13 item 5): `check --watch` re-plans on
settings.drift_schedule and exports what `sipctl apply` would change."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.sandbox import REPO, Sandbox, free_port
from tests.reconcile_helpers import sipctl

pytestmark = pytest.mark.sip

CONFIG = """\
outbound_trunks:
  acme:
    address: sip.acme.example
    numbers: ["+15550001111"]
test_calls:
  manual:
    trunk: acme
    to: "+15550100001"
settings:
  drift_schedule: every 1s
"""


def drift(port: int) -> dict[tuple[str, str], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
        text = resp.read().decode()
    out: dict[tuple[str, str], float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "sipctl_drift_changes":
                out[(s.labels["kind"], s.labels["action"])] = s.value
            elif s.name == "sipctl_drift_last_success_timestamp_seconds":
                out[("last_success", "")] = s.value
    return out


async def edit_numbers_behind_sipctls_back(sb: Sandbox) -> None:
    from livekit import api

    lk = api.LiveKitAPI(sb.url, sb.api_key, sb.api_secret)
    try:
        (trunk,) = (await lk.sip.list_outbound_trunk(api.ListSIPOutboundTrunkRequest())).items
        await lk.sip.update_outbound_trunk_fields(trunk.sip_trunk_id, numbers=["+15550009999"])
    finally:
        await lk.aclose()


def wait_for(port: int, pred: object, what: str) -> dict[tuple[str, str], float]:
    deadline = time.monotonic() + 20
    seen: dict[tuple[str, str], float] = {}
    while time.monotonic() < deadline:
        time.sleep(0.3)
        try:
            seen = drift(port)
        except OSError:
            continue
        if pred(seen):  # type: ignore[operator]
            return seen
    raise AssertionError(f"{what}: {seen}")


def test_drift_metrics_change_when_a_trunk_is_edited_behind_sipctls_back(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    cfg = tmp_path / "config"
    cfg.mkdir()
    (cfg / "sipctl.yaml").write_text(CONFIG)
    res = sipctl(sandbox, cfg, "apply", "--auto-approve", "--no-verify")
    assert res.exit_code == 0, res.output
    port = free_port()
    env = {**os.environ, **sandbox.env, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "sipctl", "check", "--config", str(cfg), "--watch"]
    argv += ["--serve", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        before = wait_for(port, lambda m: ("last_success", "") in m, "no successful re-plan")
        assert before[("outbound_trunk", "update")] == 0
        assert sum(v for k, v in before.items() if k[0] != "last_success") == 0
        asyncio.run(edit_numbers_behind_sipctls_back(sandbox))
        after = wait_for(port, lambda m: m.get(("outbound_trunk", "update")) == 1, "drift not seen")
        assert after[("last_success", "")] > before[("last_success", "")]
        assert after[("inbound_trunk", "create")] == 0
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "DRIFT    1 change to apply: 1 update outbound_trunk" in out, out
