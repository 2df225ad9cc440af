"""Honest verdicts against Kamailio + SIPp (issue #13 items 1 and 2).

Each case runs `sipctl check` as a whole process with JSON, JUnit and Prometheus reports
at once; the three must agree on the verdict and the machine-readable reason, and no room
or call may be left in the sandbox.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sipctl.sandbox.provider import NUMBERS, Provider
from tests.fixtures.sandbox import REPO, Sandbox
from tests.test_faults_check import assert_nothing_left, closed_port, trunk_for

pytestmark = pytest.mark.sip


def check_all(
    sb: Sandbox, tmp_path: Path, address: str, to: str, expect: str, **call: str
) -> dict[str, Any]:
    """One test call through a trunk to ``address``; the JSON result, plus what JUnit
    and Prometheus said about it."""
    cfg = tmp_path / "config"
    cfg.mkdir(exist_ok=True)
    settings = call.pop("settings", "")
    fields = {"ringing_timeout": "2s", "hold": "500ms", **call}
    extra = "".join(f"\n    {k}: {v}" for k, v in fields.items())
    (cfg / "sipctl.yaml").write_text(
        f"""\
outbound_trunks:
  prov:
    address: "{address}"
    numbers: ["+15550001111"]
    auth: {{username: trunkuser, password: "${{PROV_PASSWORD}}"}}
test_calls:
  probe:
    trunk: prov
    to: "{to}"
    expect: {expect}{extra}
settings:
  {settings or "jitter: 0s"}
"""
    )
    env = {**os.environ, **sb.env, "PROV_PASSWORD": "trunkpass", "GITHUB_STEP_SUMMARY": ""}
    env["PYTHONPATH"] = str(REPO)
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "sipctl", "check", "--config", str(cfg)]
    argv += ["--output", str(out / "r.json"), "--output", str(out / "r.xml")]
    argv += ["--output", str(out / "r.prom")]
    res = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in res.stderr, res.stderr
    import json

    (result,) = json.loads((out / "r.json").read_text())["results"]
    result["exit_code"] = res.returncode
    case = ET.parse(out / "r.xml").getroot().find("testsuite/testcase")
    assert case is not None
    bad = case.find("failure")
    if bad is None:
        bad = case.find("error")
    result["junit"] = None if bad is None else (bad.tag, bad.get("type"))
    reasons = [
        s.labels["reason"]
        for f in text_string_to_metric_families((out / "r.prom").read_text())
        if f.name == "sipctl_probe_reason"
        for s in f.samples
        if s.value == 1
    ]
    result["prom_reason"] = reasons[0] if reasons else None
    success = [
        s.value
        for f in text_string_to_metric_families((out / "r.prom").read_text())
        if f.name == "sipctl_probe_success"
        for s in f.samples
    ]
    result["prom_success"] = success[0]
    return result


def agree(r: dict[str, Any], verdict: str, reason: str | None) -> None:
    assert (r["verdict"], r["reason"]) == (verdict, reason), r
    assert r["prom_reason"] == reason
    assert r["prom_success"] == (1.0 if verdict in ("pass", "degraded") else 0.0)
    if verdict == "fail":
        assert r["junit"] == ("failure", reason), r["junit"]
        assert r["exit_code"] == 3
    elif verdict == "pass":
        assert r["junit"] is None and r["exit_code"] == 0


@pytest.mark.parametrize(
    "expect", ["{sip_status: 480}", "{sip_status: 487}", "answered", "{rings_out: true}"]
)
def test_a_dead_address_fails_every_expectation(
    sandbox: Sandbox, tmp_path: Path, expect: str
) -> None:
    address = f"127.0.0.1:{closed_port()}"
    trunk_for(sandbox, address)
    r = check_all(sandbox, tmp_path, address, NUMBERS["answer"], expect)
    agree(r, "fail", "unreachable")
    assert r["cause"].startswith(f"no SIP response from {address} within 2s"), r["cause"]
    assert_nothing_left(sandbox)


def test_a_ringing_only_number_fails_an_expected_480(
    sandbox: Sandbox, tmp_path: Path, provider: Provider
) -> None:
    trunk_for(sandbox, provider.address)
    r = check_all(sandbox, tmp_path, provider.address, NUMBERS["ringing"], "{sip_status: 480}")
    agree(r, "fail", "timeout")
    assert "the provider sent no final status" in r["cause"], r["cause"]
    assert_nothing_left(sandbox)


def test_rings_out_passes_a_ringing_only_number(
    sandbox: Sandbox, tmp_path: Path, provider: Provider
) -> None:
    trunk_for(sandbox, provider.address)
    r = check_all(sandbox, tmp_path, provider.address, NUMBERS["ringing"], "{rings_out: true}")
    agree(r, "pass", None)
    assert r["expect"] == "rings_out"
    assert_nothing_left(sandbox)


def test_a_call_dropped_mid_hold_fails(
    sandbox: Sandbox, tmp_path: Path, provider: Provider
) -> None:
    trunk_for(sandbox, provider.address)
    # the provider's callee sends BYE 2 s after the answer
    r = check_all(sandbox, tmp_path, provider.address, NUMBERS["hangup"], "answered", hold="5s")
    agree(r, "fail", "dropped")
    held = re.match(r"dropped after (\d+\.\d) s of a 5s hold: ", r["cause"])
    assert held is not None, r["cause"]
    assert 1.5 <= float(held.group(1)) <= 3.0, r["cause"]  # the BYE comes 2 s in
    assert_nothing_left(sandbox)


def test_busy_with_expected_486_passes(
    sandbox: Sandbox, tmp_path: Path, provider: Provider
) -> None:
    trunk_for(sandbox, provider.address)
    r = check_all(sandbox, tmp_path, provider.address, NUMBERS["busy"], "{sip_status: 486}")
    agree(r, "pass", None)
    assert r["sip_status_code"] == 486
    assert_nothing_left(sandbox)


def test_answer_with_expected_486_fails(
    sandbox: Sandbox, tmp_path: Path, provider: Provider
) -> None:
    trunk_for(sandbox, provider.address)
    r = check_all(sandbox, tmp_path, provider.address, NUMBERS["answer"], "{sip_status: 486}")
    agree(r, "fail", "answered")
    assert_nothing_left(sandbox)


@pytest.mark.parametrize(
    ("number", "reason"),
    [("unknown", "number"), ("unavailable", "capacity"), ("busy", "busy")],
)
def test_rejections_carry_their_reason(
    sandbox: Sandbox, tmp_path: Path, provider: Provider, number: str, reason: str
) -> None:
    trunk_for(sandbox, provider.address)
    r = check_all(sandbox, tmp_path, provider.address, NUMBERS[number], "answered")
    agree(r, "fail", reason)
    assert_nothing_left(sandbox)


def test_wrong_password_is_auth(sandbox: Sandbox, tmp_path: Path, provider: Provider) -> None:
    trunk_for_password(sandbox, provider.address, "wrong")
    r = check_all(sandbox, tmp_path, provider.address, NUMBERS["answer"], "answered")
    agree(r, "fail", "auth")
    assert "auth.username/auth.password of trunk prov" in r["cause"], r["cause"]
    assert_nothing_left(sandbox)


def trunk_for_password(sb: Sandbox, address: str, password: str) -> None:
    import asyncio

    from tests.test_dial_sandbox import create_trunk

    asyncio.run(create_trunk(sb, "prov", address, password=password))


def test_a_silent_line_fails_no_media_at_livekits_media_timeout(
    sandbox_factory: Any, tmp_path: Path, provider: Provider
) -> None:
    """The silent line answers and sends no RTP: the bridge ends the call at its initial
    media timeout (sipctl sandbox --initial-media-timeout), with no BYE from the far end."""
    sb = sandbox_factory(extra_args=["--initial-media-timeout", "1s"])
    trunk_for(sb, provider.address)
    r = check_all(
        sb,
        tmp_path,
        provider.address,
        NUMBERS["silent"],
        "answered",
        hold="4s",
        settings="media_timeout_initial: 1s",
    )
    agree(r, "fail", "no_media")
    assert r["cause"].startswith("the far end sent no audio"), r["cause"]
    assert_nothing_left(sb)
