"""The official real-time SDK in a room with a SIP call through Kamailio + SIPp: it sees
the SIP participant, hears the provider's tone line, and hears itself back from the echo
line (livekit/sip pkg/sip/room.go: the bridge publishes the call's audio and mixes every
subscribed track into the call)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from google.protobuf.duration_pb2 import Duration
from livekit import api
from livekit.protocol.room import ListParticipantsRequest
from livekit.protocol.sip import (
    CreateSIPOutboundTrunkRequest,
    CreateSIPParticipantRequest,
    SIPOutboundTrunkInfo,
)

from sipctl.sandbox.provider import NUMBERS, Provider
from tests.fixtures.sandbox import Sandbox
from tests.sandbox.rtc_netns import _inside_rtc_netns, rtc_netns  # noqa: F401

NEEDS_EXTRA = "needs the audio extra: pip install 'sipctl[audio]'"
rtc = pytest.importorskip("livekit.rtc", reason=NEEDS_EXTRA)
pytest.importorskip("aiortc", reason=NEEDS_EXTRA)

from tests.sandbox.rtc_sdk import dominant_hz, hear, join_token, tone_publisher  # noqa: E402

pytestmark = pytest.mark.sip
ROOM = "rtc-sip"
PHONE = "phone"


@pytest.fixture
async def lk(sandbox: Sandbox) -> AsyncIterator[api.LiveKitAPI]:
    client = api.LiveKitAPI(sandbox.url, sandbox.api_key, sandbox.api_secret)
    yield client
    await client.aclose()


async def call(lk: api.LiveKitAPI, prov: Provider, line: str) -> None:
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
    await lk.sip.create_sip_participant(
        CreateSIPParticipantRequest(
            sip_trunk_id=trunk.sip_trunk_id,
            sip_call_to=NUMBERS[line],
            room_name=ROOM,
            participant_identity=PHONE,
            wait_until_answered=True,
            ringing_timeout=Duration(seconds=3),
        )
    )


async def sip_track(room: Any) -> Any:
    """The SIP participant's audio track, once subscribed."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        phone = room.remote_participants.get(PHONE)
        if phone is not None:
            for pub in phone.track_publications.values():
                if pub.track is not None:
                    return pub.track
        await asyncio.sleep(0.05)
    raise AssertionError(f"no subscribed SIP track; participants: {list(room.remote_participants)}")


async def test_sdk_sees_the_sip_participant_and_hears_the_tone_line(
    lk: api.LiveKitAPI, sandbox: Sandbox, provider: Provider
) -> None:
    await call(lk, provider, "tone")
    room = rtc.Room()
    await room.connect(sandbox.url, join_token(sandbox, "listener", ROOM, hidden=True))
    try:
        track = await sip_track(room)
        phone = room.remote_participants[PHONE]
        assert phone.kind == rtc.ParticipantKind.PARTICIPANT_KIND_SIP
        assert phone.attributes["sip.callStatus"] == "active"
        samples = await hear(track, 1.5)
        assert dominant_hz(samples[-4000:]) == pytest.approx(1004, abs=10)
        # a hidden participant is listed by RoomService but never shown to others
        res = await lk.room.list_participants(ListParticipantsRequest(room=ROOM))
        assert {p.identity for p in res.participants} == {PHONE, "listener"}
    finally:
        await room.disconnect()
    await lk.room.remove_participant(api.RoomParticipantIdentity(room=ROOM, identity=PHONE))


async def test_echo_line_returns_what_the_sdk_publishes(
    lk: api.LiveKitAPI, sandbox: Sandbox, provider: Provider
) -> None:
    room = rtc.Room()
    await room.connect(sandbox.url, join_token(sandbox, "talker", ROOM))
    stop = asyncio.Event()
    source = rtc.AudioSource(48000, 1)
    feeder = asyncio.ensure_future(tone_publisher(source, 700.0, stop))
    try:
        track = rtc.LocalAudioTrack.create_audio_track("probe", source)
        await room.local_participant.publish_track(
            track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        )
        await call(lk, provider, "echo")
        samples = await hear(await sip_track(room), 2.0)
        assert dominant_hz(samples[-4000:]) == pytest.approx(700, abs=10)
    finally:
        stop.set()
        await feeder
        await room.disconnect()
    await lk.room.remove_participant(api.RoomParticipantIdentity(room=ROOM, identity=PHONE))
