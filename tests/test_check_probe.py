"""Probe hygiene (issue #13 item 3): every probe says it is one, on the INVITE (a SIP
header the far end sees) and in the room (participant attributes agents can read)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from sipctl.dial import PROBE_HEADER, run_calls
from sipctl.models import Settings
from sipctl.sandbox.provider import NUMBERS, Provider, missing_binaries
from sipctl.sandbox.provider.launcher import free_port
from tests.fixtures.sandbox import Sandbox, die_with_parent
from tests.test_dial_sandbox import conn, create_trunk, tc
from tests.test_faults_check import SCENARIOS, _udp_bound

pytestmark = pytest.mark.sip


def start_tracing_uas(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A SIPp callee that answers and hangs up, logging every message it receives."""
    if missing_binaries():
        pytest.skip("needs sipp (apt-get install sip-tester)")
    port = free_port()
    work.mkdir()
    argv = ["sipp", "-sf", str(SCENARIOS / "hangup_at_once.xml"), "-i", "127.0.0.1"]
    argv += ["-p", str(port), "-t", "u1", "-mi", "127.0.0.1", "-ci", "127.0.0.1"]
    argv += ["-cp", str(free_port()), "-nostdin", "-trace_msg"]
    proc = subprocess.Popen(
        argv,
        cwd=work,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    deadline = time.monotonic() + 5
    while not _udp_bound(port):
        assert proc.poll() is None and time.monotonic() < deadline, "sipp did not start"
        time.sleep(0.01)
    return proc, f"127.0.0.1:{port}"


@pytest.mark.parametrize("header", [PROBE_HEADER, "X-Acme-Synthetic"])
async def test_the_invite_carries_the_probe_header(
    sandbox: Sandbox, tmp_path: Path, header: str
) -> None:
    proc, address = start_tracing_uas(tmp_path / "uas")
    try:
        await create_trunk(sandbox, "prov", address)
        await run_calls(
            conn(sandbox),
            [("nightly-us", tc(NUMBERS["answer"]))],
            parallelism=1,
            max_per_trunk=1,
            settings=Settings(probe_header=header),
        )
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    (log,) = (tmp_path / "uas").glob("*_messages.log")
    invite = log.read_text().replace("\r\n", "\n").split("INVITE sip:", 1)[1]
    head = invite.split("\n\n", 1)[0]
    assert f"\n{header}: nightly-us\n" in head + "\n", head


async def test_the_participant_carries_probe_attributes(
    sandbox: Sandbox, provider: Provider
) -> None:
    from livekit import api

    await create_trunk(sandbox, "prov", provider.address)
    seen: list[dict[str, str]] = []

    async def watch_rooms() -> None:
        lk = api.LiveKitAPI(sandbox.url, sandbox.api_key, sandbox.api_secret)
        try:
            while not seen:
                for room in (await lk.room.list_rooms(api.ListRoomsRequest())).rooms:
                    req = api.ListParticipantsRequest(room=room.name)
                    for p in (await lk.room.list_participants(req)).participants:
                        seen.append(dict(p.attributes))
                await asyncio.sleep(0.05)
        finally:
            await lk.aclose()

    watcher = asyncio.create_task(watch_rooms())
    (r,) = await run_calls(
        conn(sandbox),
        [("smoke-answer", tc(NUMBERS["answer"], hold="1s"))],
        parallelism=1,
        max_per_trunk=1,
    )
    await asyncio.wait_for(watcher, 5)
    assert r.ok, r
    attrs = seen[0]
    assert attrs["sipctl.probe"] == "smoke-answer"
    assert len(attrs["sipctl.run"]) == 12  # one id per run, the same for all its calls
