"""Audio checks end to end: sipctl's dial runner and `sipctl check` against the sandbox,
Kamailio and SIPp's tone, silent and echo lines; the official `livekit` SDK listens."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sipctl.models import TestCall
from sipctl.results import Reason, Verdict
from sipctl.sandbox.provider import NUMBERS, Provider
from tests.fixtures.sandbox import Sandbox
from tests.sandbox.rtc_netns import _inside_rtc_netns, rtc_netns  # noqa: F401
from tests.test_dial_sandbox import conn, create_trunk, settle_clean

NEEDS_EXTRA = "needs the audio extra: pip install 'sipctl[audio]'"
pytest.importorskip("livekit.rtc", reason=NEEDS_EXTRA)
pytest.importorskip("aiortc", reason=NEEDS_EXTRA)

from sipctl.dial import run_calls  # noqa: E402

pytestmark = pytest.mark.sip


def audio_call(line: str, **audio: Any) -> TestCall:
    # echo: 5 s, as the README advises (the echo needs a moment to start coming back)
    return TestCall.model_validate(
        {
            "trunk": "prov",
            "to": NUMBERS[line],
            "ringing_timeout": "3s",
            "hold": "5s" if audio["expect"] == "echo" else "3s",
            "audio": audio,
        }
    )


async def test_tone_silent_and_echo_lines(sandbox: Sandbox, provider: Provider) -> None:
    await create_trunk(sandbox, "prov", provider.address)
    calls = [
        ("tone", audio_call("tone", expect="tone")),
        ("silent", audio_call("silent", expect="sound")),
        ("echo", audio_call("echo", expect="echo")),
        ("tone-as-echo", audio_call("tone", expect="echo")),
        ("tone-as-2600", audio_call("tone", expect="tone", frequency=2600)),
    ]
    # two at a time through the trunk, as settings.max_calls_per_trunk defaults to
    results = await run_calls(conn(sandbox), calls, parallelism=2, max_per_trunk=2)
    by = {r.name: r for r in results}

    tone = by["tone"]
    assert (tone.verdict, tone.reason) == (Verdict.PASS, None), tone.cause
    assert "1004 Hz tone in" in tone.cause
    assert tone.audio_active_ratio is not None and tone.audio_active_ratio > 0.8
    assert tone.audio_echo_delay is None

    silent = by["silent"]
    assert (silent.verdict, silent.reason) == (Verdict.FAIL, Reason.NO_AUDIO), silent.cause
    assert silent.audio_active_ratio == 0.0

    echo = by["echo"]
    assert (echo.verdict, echo.reason) == (Verdict.PASS, None), echo.cause
    assert echo.audio_echo_delay is not None and 0 < echo.audio_echo_delay < 1.0, echo.cause
    assert "round trip" in echo.cause

    one_way = by["tone-as-echo"]
    assert (one_way.verdict, one_way.reason) == (Verdict.FAIL, Reason.ONE_WAY_AUDIO), one_way.cause

    wrong = by["tone-as-2600"]
    assert (wrong.verdict, wrong.reason) == (Verdict.FAIL, Reason.WRONG_AUDIO), wrong.cause
    assert "mostly 1000 Hz" in wrong.cause or "mostly 1020 Hz" in wrong.cause
    # nothing left behind: rooms (with the listener and the SIP participant) and calls
    await settle_clean(sandbox)
    assert sandbox.state()["calls"] == []


CONFIG = """outbound_trunks:
  prov:
    address: {address}
    numbers: ["+15550001111"]
    auth:
      username: trunkuser
      password: ${{PROV_PASSWORD}}
test_calls:
  milliwatt:
    verify_on_apply: false
    trunk: prov
    to: "{tone}"
    ringing_timeout: 3s
    hold: 2s
    audio:
      expect: tone
  echo-line:
    verify_on_apply: false
    trunk: prov
    to: "{echo}"
    ringing_timeout: 3s
    hold: 5s
    audio:
      expect: echo
"""


def test_check_command_reports_audio(sandbox: Sandbox, provider: Provider, tmp_path: Path) -> None:
    from sipctl.cli import cli

    (tmp_path / "sip.yaml").write_text(
        CONFIG.format(address=provider.address, tone=NUMBERS["tone"], echo=NUMBERS["echo"])
    )
    env = {
        "LIVEKIT_URL": sandbox.url,
        "LIVEKIT_API_KEY": sandbox.api_key,
        "LIVEKIT_API_SECRET": sandbox.api_secret,
        "PROV_PASSWORD": "trunkpass",
    }
    runner = CliRunner()
    applied = runner.invoke(cli, ["apply", "--config", str(tmp_path), "--auto-approve"], env=env)
    assert applied.exit_code == 0, applied.output
    outputs = {}
    for fmt in ("json", "junit", "prometheus"):
        res = runner.invoke(cli, ["check", "--config", str(tmp_path), "--format", fmt], env=env)
        assert res.exit_code == 0, res.output
        outputs[fmt] = res.stdout
    data = json.loads(outputs["json"])
    calls = {c["name"]: c for c in data["results"]}
    assert calls["milliwatt"]["verdict"] == "pass"
    assert calls["milliwatt"]["audio_active_ratio"] > 0.8
    assert 0 < calls["echo-line"]["audio_echo_delay"] < 1.0, calls["echo-line"]["cause"]
    assert '<property name="audio_active_ratio"' in outputs["junit"]
    assert 'sipctl_probe_audio_active_ratio{call="milliwatt"' in outputs["prometheus"]
    assert 'sipctl_probe_audio_echo_delay_seconds{call="echo-line"' in outputs["prometheus"]
    state = sandbox.state()
    assert (state["rooms"], state["calls"]) == ([], [])
