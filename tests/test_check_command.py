"""`sipctl check` end to end: config -> sandbox -> Kamailio/SIPp -> reports and exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from sipctl.cli import cli
from sipctl.sandbox.provider import NUMBERS, Provider
from tests.fixtures.sandbox import Sandbox, free_port
from tests.test_dial_sandbox import create_trunk

REPO = Path(__file__).resolve().parents[1]


def write_config(d: Path, address: str, calls: str, settings: str = "") -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "sipctl.yaml").write_text(
        f"""\
outbound_trunks:
  prov:
    address: "{address}"
    numbers: ["+15550001111"]
    auth: {{username: trunkuser, password: "${{PROV_PASSWORD}}"}}
test_calls:
{calls}
settings:
  jitter: 0s
{settings}"""
    )
    return d


CALLS = f"""\
  answer:
    trunk: prov
    to: "{NUMBERS["answer"]}"
    ringing_timeout: 3s
    hold: 500ms
    tags: [smoke]
  busy-expected:
    trunk: prov
    to: "{NUMBERS["busy"]}"
    expect: {{sip_status: 486}}
    ringing_timeout: 3s
    tags: [smoke]
  busy-unexpected:
    trunk: prov
    to: "{NUMBERS["busy"]}"
    ringing_timeout: 3s
"""


def env_for(sb: Sandbox, **extra: str) -> dict[str, str]:
    return {**sb.env, "PROV_PASSWORD": "trunkpass", "GITHUB_STEP_SUMMARY": "", **extra}


def invoke(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_list_dials_nothing_and_needs_no_connection(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config", "127.0.0.1:5060", CALLS)
    code, out, _ = invoke(
        ["check", "--config", str(cfg), "--list", "--tag", "smoke"],
        {"PROV_PASSWORD": "x", "LIVEKIT_URL": "", "LIVEKIT_API_KEY": ""},
    )
    assert code == 0
    assert "answer" in out and "busy-expected" in out
    assert "busy-unexpected" not in out
    assert "2 test calls would run" in out


def test_shard_lists_split_the_calls(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config", "127.0.0.1:5060", CALLS)
    seen: list[str] = []
    for k in (1, 2):
        code, out, _ = invoke(
            ["check", "--config", str(cfg), "--list", "--shard", f"{k}/2"], {"PROV_PASSWORD": "x"}
        )
        assert code == 0
        seen += [line.split()[0] for line in out.splitlines()[1:-1]]
    assert sorted(seen) == ["answer", "busy-expected", "busy-unexpected"]


@pytest.mark.parametrize(
    "args",
    [["--shard", "3/2"], ["nope"], ["--format", "yaml"], ["--parallelism", "0"]],
)
def test_bad_arguments_exit_1(tmp_path: Path, args: list[str]) -> None:
    cfg = write_config(tmp_path / "config", "127.0.0.1:5060", CALLS)
    code, _, err = invoke(["check", "--config", str(cfg), *args], {"PROV_PASSWORD": "x"})
    assert code == 1
    assert err.startswith("Error: ")


def test_no_connection_settings_exit_1(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config", "127.0.0.1:5060", CALLS)
    code, _, err = invoke(
        ["check", "--config", str(cfg)],
        {"PROV_PASSWORD": "x", "LIVEKIT_URL": "", "LIVEKIT_API_KEY": "", "LIVEKIT_API_SECRET": ""},
    )
    assert code == 1
    assert "LIVEKIT_URL" in err


def test_bad_config_exit_1(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    cfg.mkdir()
    (cfg / "x.yaml").write_text("test_calls:\n  a: {trunk: t}\n")
    code, _, _ = invoke(["check", "--config", str(cfg)], {})
    assert code == 1


@pytest.mark.sip
def test_check_writes_every_format_and_exits_3(
    tmp_path: Path, sandbox: Sandbox, provider: Provider
) -> None:
    asyncio.run(create_trunk(sandbox, "prov", provider.address))
    cfg = write_config(tmp_path / "config", provider.address, CALLS)
    summary = tmp_path / "summary.md"
    summary.write_text("# before\n")
    code, out, _ = invoke(
        [
            "check",
            "--config",
            str(cfg),
            "--format",
            "junit",
            "--output",
            str(tmp_path / "r.xml"),
            "--format",
            "prometheus",
            "--output",
            str(tmp_path / "r.prom"),
            "--format",
            "json",
        ],
        env_for(sandbox, GITHUB_STEP_SUMMARY=str(summary)),
    )
    assert code == 3
    doc = json.loads(out)
    verdicts = {r["name"]: r["verdict"] for r in doc["results"]}
    assert verdicts == {"answer": "pass", "busy-expected": "pass", "busy-unexpected": "fail"}
    assert doc["summary"]["exit_code"] == 3

    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"answer", "busy-expected", "busy-unexpected"}
    failure = cases["busy-unexpected"].find("failure")
    assert failure is not None and "486 Busy Here" in (failure.get("message") or "")
    assert float(cases["answer"].get("time") or 0) >= 0.5

    fams = {f.name: f for f in text_string_to_metric_families((tmp_path / "r.prom").read_text())}
    success = {s.labels["call"]: s.value for s in fams["sipctl_probe_success"].samples}
    assert success == {"answer": 1, "busy-expected": 1, "busy-unexpected": 0}
    codes = {s.labels["call"]: s.value for s in fams["sipctl_probe_sip_status_code"].samples}
    assert codes == {"answer": 200, "busy-expected": 486, "busy-unexpected": 486}

    md = summary.read_text()
    assert md.startswith("# before\n")
    assert "| `busy-unexpected` |" in md
    assert sandbox.state()["rooms"] == []


@pytest.mark.sip
def test_text_to_stdout_and_exit_0(tmp_path: Path, sandbox: Sandbox, provider: Provider) -> None:
    asyncio.run(create_trunk(sandbox, "prov", provider.address))
    cfg = write_config(tmp_path / "config", provider.address, CALLS)
    code, out, _ = invoke(["check", "--config", str(cfg), "--tag", "smoke"], env_for(sandbox))
    assert code == 0, out
    lines = out.splitlines()
    assert sorted(line.split()[1] for line in lines[:-1]) == ["answer:", "busy-expected:"]
    assert all(line.startswith("PASS") for line in lines[:-1])
    assert lines[-1].startswith("2 test calls: 2 passed, 0 degraded, 0 failed, 0 errors in ")


@pytest.mark.sip
def test_missing_live_trunk_exits_1(tmp_path: Path, sandbox: Sandbox) -> None:
    cfg = write_config(tmp_path / "config", "127.0.0.1:5060", CALLS)
    code, out, _ = invoke(
        ["check", "--config", str(cfg), "answer", "--format", "json"], env_for(sandbox)
    )
    assert code == 1
    (r,) = json.loads(out)["results"]
    assert r["verdict"] == "error"
    assert "sipctl apply" in r["cause"]


def _metrics(port: int) -> dict[str, dict[str, float]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
        text = resp.read().decode()
    out: dict[str, dict[str, float]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, {})[s.labels.get("call", "")] = s.value
    return out


@pytest.mark.sip
def test_watch_serves_metrics_and_stops_cleanly_on_sigterm(
    tmp_path: Path, sandbox: Sandbox, provider: Provider
) -> None:
    asyncio.run(create_trunk(sandbox, "prov", provider.address))
    calls = f"""\
  answer:
    trunk: prov
    to: "{NUMBERS["answer"]}"
    ringing_timeout: 3s
    hold: 500ms
    schedule: every 1s
  held:
    trunk: prov
    to: "{NUMBERS["answer"]}"
    ringing_timeout: 3s
    hold: 30s
    schedule: every 2s
  busy:
    trunk: prov
    to: "{NUMBERS["busy"]}"
    ringing_timeout: 3s
    schedule: every 1s
  manual:
    trunk: prov
    to: "{NUMBERS["answer"]}"
"""
    cfg = write_config(tmp_path / "config", provider.address, calls, "  failure_threshold: 2\n")
    port = free_port()
    env = {**os.environ, **env_for(sandbox), "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "sipctl", "check", "--config", str(cfg), "--watch"]
    argv += ["--serve", f"127.0.0.1:{port}", "--format", "prometheus"]
    argv += ["--output", str(tmp_path / "latest.prom")]
    proc = subprocess.Popen(
        argv,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        metrics: dict[str, dict[str, float]] = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            time.sleep(0.3)
            try:
                metrics = _metrics(port)
            except OSError:
                continue
            runs = metrics.get("sipctl_probe_runs_total", {})
            if runs.get("answer", 0) >= 2 and runs.get("busy", 0) >= 2:
                break
        assert metrics["sipctl_probe_runs_total"]["answer"] >= 2, metrics
        assert metrics["sipctl_probe_success"]["answer"] == 1
        # busy fails every time: reported failing from the 2nd failure on
        assert metrics["sipctl_probe_failures_total"]["busy"] >= 2
        assert metrics["sipctl_probe_success"]["busy"] == 0
        assert "manual" not in metrics["sipctl_probe_runs_total"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            assert resp.status == 200
        # "held" is up (30 s hold) when we stop: it must be hung up, its room deleted
        assert any(r["participants"] for r in sandbox.state()["rooms"]), sandbox.state()["rooms"]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "skipped (no schedule): manual" in err
    assert "FAILING  busy" in out
    assert (tmp_path / "latest.prom").exists()
    for _ in range(50):
        if not sandbox.state()["rooms"]:
            break
        time.sleep(0.1)
    assert sandbox.state()["rooms"] == []


@pytest.mark.sip
def test_ctrl_c_hangs_up_and_deletes_rooms(
    tmp_path: Path, sandbox: Sandbox, provider: Provider
) -> None:
    asyncio.run(create_trunk(sandbox, "prov", provider.address))
    calls = f"""\
  ringing:
    trunk: prov
    to: "{NUMBERS["ringing"]}"
    ringing_timeout: 30s
  held:
    trunk: prov
    to: "{NUMBERS["answer"]}"
    ringing_timeout: 3s
    hold: 30s
"""
    cfg = write_config(tmp_path / "config", provider.address, calls)
    env = {**os.environ, **env_for(sandbox), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sipctl", "check", "--config", str(cfg)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        statuses: set[str] = set()
        while time.monotonic() < deadline and not {"ringing", "active"} <= statuses:
            time.sleep(0.1)
            statuses = {
                p["attributes"].get("sip.callStatus", "")
                for r in sandbox.state()["rooms"]
                for p in r["participants"]
            }
        assert {"ringing", "active"} <= statuses, sandbox.state()["rooms"]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Interrupted." in err
    for _ in range(50):
        if not sandbox.state()["rooms"]:
            break
        time.sleep(0.1)
    assert sandbox.state()["rooms"] == []


@pytest.mark.sip
def test_degraded_warns_but_passes(tmp_path: Path, sandbox: Sandbox, provider: Provider) -> None:
    asyncio.run(create_trunk(sandbox, "prov", provider.address))
    calls = f"""\
  slow:
    trunk: prov
    to: "{NUMBERS["early"]}"
    ringing_timeout: 3s
    answer_within: 3s
    degraded_after: 10ms
    hold: 200ms
"""
    cfg = write_config(tmp_path / "config", provider.address, calls)
    junit = tmp_path / "r.xml"
    code, out, err = invoke(
        ["check", "--config", str(cfg), "--format", "junit", "--output", str(junit)],
        env_for(sandbox),
    )
    assert code == 0, out + err
    assert out.startswith("DEGRADED slow: answered in ")
    assert "later than degraded_after 10ms" in out
    assert "warning: 1 test call answered late (degraded, still passing): slow" in err
    case = ET.parse(junit).getroot().find("testsuite/testcase")
    assert case is not None
    assert case.find("failure") is None and case.find("error") is None
    assert "degraded" in (case.findtext("system-out") or "")
