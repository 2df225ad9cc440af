"""Media timeouts and the provider's audio lines (issue #14 item 3, #16 item 3).

livekit/sip pkg/sip/media_port.go (MediaPort.timeoutLoop, defaultMediaTimeout 15 s,
defaultMediaTimeoutInitial 30 s) hangs a call up when no RTP arrives within the initial
timeout after the answer (outbound.go connectSIP: EnableTimeout(true)), or none for the
media timeout after the last packet; outbound.go waitClose/closeWithTimeout sends BYE,
leaves sip.callStatus as it was (callDropped has no attribute) and leaves the room.
The per-call timeout is the merged media.media_timeout (protocol rpc/sip.go
NewCreateSIPParticipantRequestResult, livekit/sip.go SIPMediaConfig.Merge).
"""

from __future__ import annotations

import asyncio
import math
import os
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.duration_pb2 import Duration
from livekit import api
from livekit.protocol.room import ListParticipantsRequest
from livekit.protocol.sip import SIPMediaConfig

from sipctl.sandbox.bridge import Bridge
from sipctl.sandbox.media import merge
from sipctl.sandbox.provider import Provider
from sipctl.sandbox.provider.launcher import TONE_HZ, tone_ulaw
from sipctl.sandbox.sip import g711
from sipctl.sandbox.sip.rtp import MediaClock
from tests.fixtures.sandbox import SandboxFactory
from tests.sandbox.test_calls_bridge import FROM, LOG, RecordingRooms, request, trunk_for, until
from tests.sandbox.test_calls_e2e import dial, make_trunk

pytestmark = pytest.mark.sip


def goertzel_share(pcm: bytes, freq: float, rate: int = 8000) -> float:
    """Share of the signal's energy at ``freq`` (1.0: a pure tone)."""
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    n = len(samples)
    k = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + k * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - k * s1 * s2
    total = sum(x * x for x in samples) or 1
    return float(2 * power / (n * total))


def test_generated_tone_is_1004_hz() -> None:
    pcm = g711.decode(tone_ulaw()[:1600], alaw=False)
    assert goertzel_share(pcm, TONE_HZ) > 0.9
    assert goertzel_share(pcm, 1400) < 0.05


def test_merge_media_timeout_request_wins() -> None:
    # livekit/sip.go SIPMediaConfig.Merge: the request's media_timeout wins, else the trunk's
    trunk = SIPMediaConfig(media_timeout=Duration(seconds=7))
    assert merge(trunk, 0, None, 0).media_timeout == 7
    assert merge(trunk, 0, SIPMediaConfig(media_timeout=Duration(seconds=2)), 0).media_timeout == 2
    assert merge(None, 0, None, 0).media_timeout is None


@pytest.fixture
async def fast_bridge(rooms: RecordingRooms) -> Any:
    # a short initial timeout; a general one long enough for a loaded machine's RTP stalls
    b = Bridge(rooms, "127.0.0.1", LOG, media_timeout_initial=1.0, media_timeout=3.0)
    yield b
    await b.close()
    assert b.calls == {}


@pytest.fixture
async def rooms() -> RecordingRooms:
    return RecordingRooms()


async def test_silent_line_hits_the_initial_media_timeout(
    provider: Provider, rooms: RecordingRooms, fast_bridge: Bridge
) -> None:
    info = await fast_bridge.create_sip_participant(request("silent"), trunk_for(provider), FROM)
    bc = fast_bridge.calls[info.sip_call_id]
    call = bc.call
    assert call is not None
    await until(lambda: rooms.left(info.participant_identity), 5)
    assert bc.media_timed_out
    assert call.rtp.packets_received == 0
    assert call.end_reason == "local-bye"  # BYE, as closeWithTimeout's stopSIP
    # callDropped has no attribute: the last status stays
    assert rooms.statuses(info.participant_identity)[-1] == "active"


async def test_answering_lines_send_rtp_and_stay_up(
    provider: Provider, rooms: RecordingRooms, fast_bridge: Bridge
) -> None:
    infos = [
        await fast_bridge.create_sip_participant(
            request(scen, participant_identity=scen), trunk_for(provider), FROM
        )
        for scen in ("answer", "tone", "echo", "early")
    ]
    await asyncio.sleep(2.0)  # twice the initial media timeout
    for info in infos:
        bc = fast_bridge.calls[info.sip_call_id]
        assert not rooms.left(info.participant_identity), info.participant_identity
        assert bc.call is not None and bc.call.rtp.packets_received > 50
        assert not bc.media_timed_out


async def test_tone_line_plays_1004_hz_through_the_audio_hook(
    provider: Provider, rooms: RecordingRooms, fast_bridge: Bridge
) -> None:
    frames: list[bytes] = []
    fast_bridge.on_call_answered = lambda bc: setattr(bc.call.rtp, "on_audio", frames.append)
    await fast_bridge.create_sip_participant(request("tone"), trunk_for(provider), FROM)
    await until(lambda: len(frames) >= 25, 5)
    assert goertzel_share(b"".join(frames[5:25]), TONE_HZ) > 0.8


async def test_echo_line_returns_what_it_receives(
    provider: Provider, rooms: RecordingRooms, fast_bridge: Bridge
) -> None:
    # what we send (a 1400 Hz tone through the audio_source hook) comes back
    tone = g711.decode(tone_ulaw(1400), alaw=False)
    pos = [0]

    def source() -> bytes:
        chunk = tone[pos[0] : pos[0] + 320]
        pos[0] = (pos[0] + 320) % len(tone)
        return chunk

    frames: list[bytes] = []

    def hook(bc: Any) -> None:
        bc.call.rtp.audio_source = source
        bc.call.rtp.on_audio = frames.append

    fast_bridge.on_call_answered = hook
    await fast_bridge.create_sip_participant(request("echo"), trunk_for(provider), FROM)
    await until(lambda: len(frames) >= 25, 5)
    assert goertzel_share(b"".join(frames[5:25]), 1400) > 0.8


async def test_rtp_that_stops_hits_the_media_timeout_of_the_request(
    provider: Provider, rooms: RecordingRooms
) -> None:
    bridge = Bridge(rooms, "127.0.0.1", LOG)  # defaults: 30 s initial, 15 s general
    try:
        req = request("echo", media=SIPMediaConfig(media_timeout=Duration(seconds=1)))
        info = await bridge.create_sip_participant(req, trunk_for(provider), FROM)
        bc = bridge.calls[info.sip_call_id]
        assert bc.call is not None
        rtp = bc.call.rtp
        await until(lambda: rtp.packets_received > 10, 5)
        MediaClock.for_loop().remove(rtp)  # we stop sending: the echo stops too
        t0 = time.monotonic()
        await until(lambda: rooms.left(info.participant_identity), 5)
        assert time.monotonic() - t0 >= 0.9
        assert bc.media_timed_out
    finally:
        await bridge.close()


# --- the command ------------------------------------------------------------------------
async def test_sandbox_flags_set_the_timeouts(
    provider: Provider, sandbox_factory: SandboxFactory
) -> None:
    sb = sandbox_factory(extra_args=["--initial-media-timeout", "1s", "--media-timeout", "5"])
    async with api.LiveKitAPI(sb.url, sb.api_key, sb.api_secret) as lk:
        trunk = await make_trunk(lk, provider)
        await lk.sip.create_sip_participant(dial(trunk, "silent", participant_identity="s"))
        await lk.sip.create_sip_participant(dial(trunk, "answer", participant_identity="a"))
        end = time.monotonic() + 6
        while True:
            resp = await lk.room.list_participants(ListParticipantsRequest(room="e2e"))
            who = {p.identity for p in resp.participants}
            if who == {"a"} or time.monotonic() > end:
                break
            await asyncio.sleep(0.1)
        assert who == {"a"}  # the silent call was hung up, the answered one stays
    assert "media timeout" in sb.log_text()


@pytest.mark.parametrize("value", ["0", "-1s", "soon"])
def test_bad_timeout_flag_is_a_usage_error(value: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sipctl.sandbox", "--port", "0", "--media-timeout", value],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "--media-timeout" in proc.stderr and "Traceback" not in proc.stderr


def test_provider_removes_its_temporary_directory(tmp_path: Path) -> None:
    # issue #17 item 7: without --workdir the launcher's temp dir goes when it stops
    from sipctl.sandbox.provider import missing_binaries

    if missing_binaries():
        pytest.skip("kamailio/sipp not installed")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sipctl.sandbox.provider"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("ready "), line
        workdir = Path(line.split("workdir=")[1].split()[0])
        assert workdir.is_dir() and workdir.parent == tmp_path
        assert (workdir / "tone1004.pcmu").stat().st_size == 8000
        proc.terminate()
        proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert not workdir.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
