"""The real-time listener (official ``livekit`` SDK) on real calls: sandbox + Kamailio +
SIPp tone, silent and echo lines, judged by :func:`sipctl.audio.judge_audio`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from google.protobuf.duration_pb2 import Duration
from livekit import api
from livekit.protocol.sip import (
    CreateSIPOutboundTrunkRequest,
    CreateSIPParticipantRequest,
    SIPOutboundTrunkInfo,
)

from sipctl.audio import AudioFinding, judge_audio
from sipctl.results import Reason
from sipctl.sandbox.provider import NUMBERS, Provider
from tests.fixtures.sandbox import Sandbox
from tests.sandbox.rtc_netns import _inside_rtc_netns, rtc_netns  # noqa: F401

NEEDS_EXTRA = "needs the audio extra: pip install 'sipctl[audio]'"
pytest.importorskip("livekit.rtc", reason=NEEDS_EXTRA)
pytest.importorskip("aiortc", reason=NEEDS_EXTRA)

from sipctl.livekit.rtc import PROBE_ATTRIBUTE, AudioListener  # noqa: E402
from sipctl.models import AudioCheck  # noqa: E402

pytestmark = pytest.mark.sip
HOLD = 3.0


@dataclass
class Conn:
    url: str
    api_key: str
    api_secret: str


@pytest.fixture
async def lk(sandbox: Sandbox) -> AsyncIterator[api.LiveKitAPI]:
    client = api.LiveKitAPI(sandbox.url, sandbox.api_key, sandbox.api_secret)
    yield client
    await client.aclose()


async def probe(
    lk: api.LiveKitAPI, sb: Sandbox, prov: Provider, line: str, check: AudioCheck
) -> tuple[AudioFinding, float]:
    trunk = await lk.sip.create_outbound_trunk(
        CreateSIPOutboundTrunkRequest(
            trunk=SIPOutboundTrunkInfo(
                name="provider",
                address=prov.address,
                numbers=["+15557770000"],
                auth_username=prov.username,
                auth_password=prov.password,
            )
        )
    )
    room = f"probe-{line}"
    listener = AudioListener(Conn(sb.url, sb.api_key, sb.api_secret), room, "phone", line, check)
    await listener.start()
    seen = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
    assert [dict(p.attributes) for p in seen.participants] == [{PROBE_ATTRIBUTE: line}]
    await lk.sip.create_sip_participant(
        CreateSIPParticipantRequest(
            sip_trunk_id=trunk.sip_trunk_id,
            sip_call_to=NUMBERS[line],
            room_name=room,
            participant_identity="phone",
            wait_until_answered=True,
            ringing_timeout=Duration(seconds=3),
        )
    )
    await asyncio.sleep(HOLD + (2 if check.expect == "echo" else 0))
    await lk.room.delete_room(api.DeleteRoomRequest(room=room))
    heard = await listener.finish()
    assert heard.error is None
    finding = judge_audio(
        check.expect,
        heard.pcm,
        min_active=check.min_active,
        frequency=check.tone_hz,
        first_frame_at=heard.first_frame_at,
        sent_from=heard.sent_from,
    )
    # nothing left behind: no room, no participant
    deadline = time.monotonic() + 5
    while (await lk.room.list_rooms(api.ListRoomsRequest())).rooms:
        assert time.monotonic() < deadline, "room left behind"
        await asyncio.sleep(0.1)
    return finding, heard.join_seconds


async def test_tone_line_passes_tone(
    lk: api.LiveKitAPI, sandbox: Sandbox, provider: Provider
) -> None:
    finding, join = await probe(lk, sandbox, provider, "tone", AudioCheck(expect="tone"))
    assert finding.ok, finding.text
    assert finding.active_ratio > 0.8
    print(f"join {join * 1000:.0f} ms; {finding.text}")


async def test_silent_line_fails_sound_with_no_audio(
    lk: api.LiveKitAPI, sandbox: Sandbox, provider: Provider
) -> None:
    finding, _ = await probe(lk, sandbox, provider, "silent", AudioCheck(expect="sound"))
    assert (finding.ok, finding.reason) == (False, Reason.NO_AUDIO), finding.text


async def test_echo_line_passes_echo_with_a_delay(
    lk: api.LiveKitAPI, sandbox: Sandbox, provider: Provider
) -> None:
    finding, _ = await probe(lk, sandbox, provider, "echo", AudioCheck(expect="echo"))
    assert finding.ok, finding.text
    assert finding.echo_delay is not None and 0 < finding.echo_delay < 1.0
    print(finding.text)


async def test_tone_line_fails_echo_with_one_way_audio(
    lk: api.LiveKitAPI, sandbox: Sandbox, provider: Provider
) -> None:
    finding, _ = await probe(lk, sandbox, provider, "tone", AudioCheck(expect="echo"))
    assert (finding.ok, finding.reason) == (False, Reason.ONE_WAY_AUDIO), finding.text
