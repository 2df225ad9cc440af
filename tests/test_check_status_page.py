"""The status page of `check --watch --serve` (issue #13 item 7): rendered on the server,
read by a real browser (headless Chromium, screenshot kept), and the same as JSON."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sipctl.render.check_status import document, html
from sipctl.results import CallStats, DialResult, Reason, RunPoint, Verdict, WatchStatus
from sipctl.sandbox.provider import NUMBERS, Provider
from tests.fixtures.sandbox import REPO, Sandbox, free_port
from tests.test_check_command import env_for, write_config
from tests.test_dial_sandbox import create_trunk

ARTIFACTS = Path(os.environ.get("SIPCTL_TEST_ARTIFACTS", REPO / "test-artifacts"))


def stats(name: str, verdict: Verdict, reason: Reason | None, cause: str) -> CallStats:
    last = DialResult(
        name=name, trunk="t<1>", to="+1555", expect="answered", verdict=verdict,
        cause=cause, reason=reason, post_dial_delay=0.2, time_to_answer=0.4,
        started_at=990.0,
    )  # fmt: skip
    history = [RunPoint(900.0 + i, verdict, reason, 0.2, 0.4) for i in range(40)]
    return CallStats(
        name=name, trunk="t<1>", schedule="every 1m", runs=40, failures=0,
        consecutive_failures=0, skipped_overlap=0, skipped_budget=0,
        failing=verdict is Verdict.FAIL, next_run=1030.0, last=last, history=history,
    )  # fmt: skip


def test_the_page_is_self_contained_and_escapes_what_it_shows() -> None:
    status = WatchStatus(
        [
            stats("answer", Verdict.PASS, None, "answered in 0.40s"),
            stats("busy", Verdict.FAIL, Reason.BUSY, "486 Busy Here: <b>busy</b>"),
        ],
        3.0,
        120,
        100.0,
        unscheduled=["manual"],
    )
    page = html(status, now=1000.0)
    assert page.startswith("<!doctype html>")
    assert '<meta http-equiv="refresh"' in page
    for external in ("<script", "src=", "http://", "https://", "@import", "url("):
        assert external not in page, external
    assert "&lt;b&gt;busy&lt;/b&gt;" in page and "t&lt;1&gt;" in page
    assert page.count("<tr data-call=") == 3
    assert page.count('<span style="background:') == 2 * 30  # the strips: last 30 runs
    assert "<polyline" in page  # the charts
    doc = document(status, now=1000.0)
    assert [c["name"] for c in doc["calls"]] == ["answer", "busy"]
    assert doc["calls"][1]["last"]["reason"] == "busy" and doc["unscheduled"] == ["manual"]
    assert doc["drift"] is None and len(doc["calls"][0]["history"]) == 40


def get(port: int, path: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return resp.status, resp.headers["Content-Type"], resp.read().decode()


@pytest.mark.sip
@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="needs chromium (apt-get install chromium)"
)
def test_status_page_in_headless_chromium(
    tmp_path: Path, sandbox: Sandbox, provider: Provider
) -> None:
    import asyncio

    asyncio.run(create_trunk(sandbox, "prov", provider.address))
    calls = f"""\
  answer:
    trunk: prov
    to: "{NUMBERS["answer"]}"
    ringing_timeout: 3s
    hold: 300ms
    schedule: every 1s
  busy-expected:
    trunk: prov
    to: "{NUMBERS["busy"]}"
    expect: {{sip_status: 486}}
    schedule: every 1s
  unknown-number:
    trunk: prov
    to: "{NUMBERS["unknown"]}"
    schedule: every 2s
  manual:
    trunk: prov
    to: "{NUMBERS["answer"]}"
"""
    cfg = write_config(tmp_path / "config", provider.address, calls, "  drift_schedule: every 2s\n")
    port = free_port()
    env = {**os.environ, **env_for(sandbox), "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "sipctl", "check", "--config", str(cfg), "--watch"]
    argv += ["--serve", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        doc: dict[str, object] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.3)
            try:
                _, ctype, body = get(port, "/api/status")
            except OSError:
                continue
            doc = json.loads(body)
            runs = {c["name"]: c["runs"] for c in doc["calls"]}  # type: ignore[attr-defined]
            if min(runs.values()) >= 2 and doc["drift"]["runs"] >= 1:  # type: ignore[index]
                break
        assert ctype == "application/json"
        by = {c["name"]: c for c in doc["calls"]}  # type: ignore[attr-defined]
        assert by["answer"]["last"]["verdict"] == "pass"
        assert by["busy-expected"]["last"]["verdict"] == "pass"
        assert by["unknown-number"]["last"]["reason"] == "number"
        assert len(by["answer"]["history"]) >= 2
        assert doc["unscheduled"] == ["manual"]
        assert doc["drift"]["schedule"] == "every 2s"  # type: ignore[index]
        assert get(port, "/healthz")[0] == 200
        status, ctype, metrics = get(port, "/metrics")
        assert status == 200 and "sipctl_probe_calls_total" in metrics

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "status-page.png"
        shot.unlink(missing_ok=True)
        chrome = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
        chrome += [f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1400,800"]
        url = f"http://127.0.0.1:{port}/"
        dom = subprocess.run(
            [*chrome, "--dump-dom", url], capture_output=True, text=True, timeout=90, check=False
        )
        assert dom.returncode == 0, dom.stderr[-2000:]
        for name in ("answer", "busy-expected", "unknown-number", "manual"):
            assert f'data-call="{name}"' in dom.stdout, name
        assert "Drift:" in dom.stdout
        done = subprocess.run(
            [*chrome, f"--screenshot={shot}", url], capture_output=True, timeout=90, check=False
        )
        assert done.returncode == 0 and shot.stat().st_size > 10_000, done.stderr[-2000:]
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
