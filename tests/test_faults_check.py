"""SIP faults during `sipctl check`: each a clear verdict, and nothing left behind.

The trunk points straight at a provider that misbehaves: nothing listening (UDP and TCP),
a SIPp callee answering garbage, one accepting the call and hanging up at once, one that
never answers (silent) and the Kamailio provider's number that rings forever. Each test
runs `sipctl check --format json` as a whole process and then asks the sandbox through
RoomService (livekit-api, as a user would) that no room and no participant is left, and
its bridge that no call is up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sipctl.sandbox.provider import NUMBERS, Provider, missing_binaries
from sipctl.sandbox.provider.launcher import free_port as free_sip_port
from tests.fixtures.sandbox import REPO, Sandbox, die_with_parent
from tests.test_dial_sandbox import create_trunk

pytestmark = pytest.mark.sip

SCENARIOS = Path(__file__).resolve().parent / "sipp"

SipUas = Callable[[str], str]


@pytest.fixture
def sipp_uas(tmp_path: Path) -> Iterator[SipUas]:
    """Start a SIPp callee running ``tests/sipp/<name>.xml``; returns its address."""
    if missing_binaries():
        pytest.skip("needs sipp (apt-get install sip-tester)")
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> str:
        port = free_sip_port()
        work = tmp_path / f"sipp-{name}-{len(procs)}"
        work.mkdir()
        argv = ["sipp", "-sf", str(SCENARIOS / f"{name}.xml"), "-i", "127.0.0.1"]
        argv += ["-p", str(port), "-t", "u1", "-mi", "127.0.0.1", "-ci", "127.0.0.1"]
        argv += ["-cp", str(free_sip_port()), "-nostdin", "-trace_err"]
        with open(work / "screen.log", "wb") as log:
            proc = subprocess.Popen(
                argv,
                cwd=work,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        procs.append(proc)
        deadline = time.monotonic() + 5
        while not _udp_bound(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"sipp {name} did not start:\n{(work / 'screen.log').read_text()}")
            time.sleep(0.01)
        return f"127.0.0.1:{port}"

    yield start
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def _udp_bound(port: int) -> bool:
    needle = f"0100007F:{port:04X}"
    with open("/proc/net/udp") as fh:
        return any(line.split()[1] == needle for line in fh.readlines()[1:])


def closed_port() -> int:
    """A loopback port nobody listens on (UDP nor TCP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def check(sb: Sandbox, tmp_path: Path, address: str, to: str, **call: str) -> dict[str, Any]:
    """`sipctl check --format json` with one test call through a trunk to ``address``."""
    cfg = tmp_path / "config"
    cfg.mkdir(exist_ok=True)
    transport = call.pop("transport", "auto")
    fields = {"ringing_timeout": "2s", "hold": "500ms", **call}
    extra = "".join(f"\n    {k}: {v}" for k, v in fields.items())
    (cfg / "sipctl.yaml").write_text(
        f"""\
outbound_trunks:
  prov:
    address: "{address}"
    transport: {transport}
    numbers: ["+15550001111"]
    auth: {{username: trunkuser, password: "${{PROV_PASSWORD}}"}}
test_calls:
  probe:
    trunk: prov
    to: "{to}"{extra}
"""
    )
    env = {
        **os.environ,
        **sb.env,
        "PROV_PASSWORD": "trunkpass",
        "GITHUB_STEP_SUMMARY": "",
        "PYTHONPATH": str(REPO),
    }
    argv = [sys.executable, "-m", "sipctl", "check", "--config", str(cfg), "--format", "json"]
    res = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in res.stderr, res.stderr
    doc: dict[str, Any] = json.loads(res.stdout)
    (result,) = doc["results"]
    result["exit_code"] = res.returncode
    result["stderr"] = res.stderr
    return result


def assert_nothing_left(sb: Sandbox) -> None:
    """No room, no participant (asked through RoomService) and no SIP call in the bridge."""

    async def rooms() -> list[tuple[str, int]]:
        from livekit import api

        lk = api.LiveKitAPI(sb.url, sb.api_key, sb.api_secret)
        try:
            out = []
            for room in (await lk.room.list_rooms(api.ListRoomsRequest())).rooms:
                req = api.ListParticipantsRequest(room=room.name)
                out.append((room.name, len((await lk.room.list_participants(req)).participants)))
            return out
        finally:
            await lk.aclose()

    left: list[tuple[str, int]] = []
    calls: list[Any] = []
    for _ in range(50):  # the bridge leaves right after its BYE/CANCEL transaction
        left, calls = asyncio.run(rooms()), sb.state()["calls"]
        if not left and not calls:
            return
        time.sleep(0.1)
    raise AssertionError(f"left behind: rooms {left}, calls {calls}")


def trunk_for(sb: Sandbox, address: str, transport: str = "auto") -> None:
    asyncio.run(create_trunk(sb, "prov", address, transport=transport))


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_provider_down(sandbox: Sandbox, tmp_path: Path, transport: str) -> None:
    address = f"127.0.0.1:{closed_port()}"
    trunk_for(sandbox, address, transport)
    r = check(sandbox, tmp_path, address, NUMBERS["answer"], transport=transport)
    assert r["verdict"] == "fail", r
    assert r["exit_code"] == 3
    assert r["cause"].startswith(f"no SIP response from {address} "), r["cause"]
    assert r["reason"] == "unreachable"
    assert r["sip_status_code"] is None and r["time_to_answer"] is None
    assert_nothing_left(sandbox)


def test_provider_answers_garbage(sandbox: Sandbox, tmp_path: Path, sipp_uas: SipUas) -> None:
    address = sipp_uas("garbage")
    trunk_for(sandbox, address)
    r = check(sandbox, tmp_path, address, NUMBERS["answer"])
    # what is not SIP is dropped, as by any SIP stack: to the caller the provider is mute
    assert r["verdict"] == "fail", r
    assert r["exit_code"] == 3
    assert r["cause"].startswith(
        f"no SIP response from {address} within 2s (the call never rang): "
    ), r["cause"]
    assert r["reason"] == "unreachable"
    assert "dropped" in sandbox.log_text()  # the bridge did receive the garbage
    assert_nothing_left(sandbox)


def test_provider_answers_garbage_sdp(sandbox: Sandbox, tmp_path: Path, sipp_uas: SipUas) -> None:
    address = sipp_uas("garbage_sdp")
    trunk_for(sandbox, address)
    r = check(sandbox, tmp_path, address, NUMBERS["answer"])
    assert r["verdict"] == "fail", r
    assert r["exit_code"] == 3
    assert r["cause"].startswith("the call failed: "), r["cause"]
    assert "SDP" in r["cause"] or "sdp" in r["cause"], r["cause"]
    assert_nothing_left(sandbox)


def test_provider_accepts_and_hangs_up_at_once(
    sandbox: Sandbox, tmp_path: Path, sipp_uas: SipUas
) -> None:
    address = sipp_uas("hangup_at_once")
    trunk_for(sandbox, address)
    r = check(sandbox, tmp_path, address, NUMBERS["answer"], hold="2s")
    assert r["verdict"] == "fail", r
    assert r["exit_code"] == 3
    assert r["sip_status_code"] == 200
    assert r["cause"].startswith("answered, then the call ended at once: "), r["cause"]
    assert r["reason"] == "dropped"
    assert_nothing_left(sandbox)


def test_provider_never_answers(sandbox: Sandbox, tmp_path: Path, sipp_uas: SipUas) -> None:
    address = sipp_uas("never_answers")
    trunk_for(sandbox, address)
    r = check(sandbox, tmp_path, address, NUMBERS["answer"])
    assert r["verdict"] == "fail", r
    assert r["exit_code"] == 3
    assert r["cause"].startswith(
        f"no SIP response from {address} within 2s (the call never rang): "
    ), r["cause"]
    assert r["reason"] == "unreachable"
    assert_nothing_left(sandbox)


def test_provider_rings_forever(sandbox: Sandbox, tmp_path: Path, provider: Provider) -> None:
    trunk_for(sandbox, provider.address)
    r = check(sandbox, tmp_path, provider.address, NUMBERS["ringing"])
    assert r["verdict"] == "fail", r
    assert r["exit_code"] == 3
    assert r["cause"].startswith("no answer within 2s (ringing since "), r["cause"]
    assert r["reason"] == "timeout"
    assert r["post_dial_delay"] is not None and r["post_dial_delay"] < 2
    assert_nothing_left(sandbox)


@pytest.mark.parametrize("active_seen", [None, 0.05], ids=["before-active", "after-active"])
def test_a_hangup_right_after_the_answer_fails_whatever_the_polls_saw(
    active_seen: float | None,
) -> None:
    """The polls may or may not catch "active" between the answer and the far end's BYE:
    the verdict must be the same."""
    from sipctl.livekit.records import CallRecord
    from sipctl.models import TestCall
    from sipctl.results import Verdict
    from sipctl.verdict import judge

    rec = CallRecord(room="r", identity="i", answered_at=0.02, active_at=active_seen)
    rec.remote_hangup_at = 0.3
    j = judge(TestCall.model_validate({"trunk": "prov", "to": "+15550100001"}), rec)
    assert j.verdict is Verdict.FAIL
    assert j.cause.startswith("answered, then the call ended at once")
