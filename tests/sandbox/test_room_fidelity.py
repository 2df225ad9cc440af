"""Rooms and the SIP participant as RoomService shows them (issue #14 items 4, 5).

Sources: livekit-server pkg/rtc/room.go CloseIfEmpty (departure_timeout after the last
one left, empty_timeout when nobody ever joined; whole seconds); livekit/sip
pkg/sip/room.go NewParticipantTrack (an audio track named after the identity, published
before dialling) and the SIP participant's grants (publish, subscribe, data).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from livekit import api
from livekit.protocol import models
from livekit.protocol.room import CreateRoomRequest, ListParticipantsRequest, ListRoomsRequest

from sipctl.sandbox.provider import NUMBERS, Provider
from sipctl.sandbox.rooms import Participant, RoomRegistry
from tests.fixtures.sandbox import Sandbox
from tests.sandbox.test_calls_e2e import dial, make_trunk


def test_close_idle_rules() -> None:
    reg = RoomRegistry()
    never = reg.get_or_create("never", empty_timeout=2, departure_timeout=1)
    left = reg.get_or_create("left", empty_timeout=300, departure_timeout=1)
    reg.join("left", Participant(sid="PA_x", identity="x"))
    reg.leave("left", "x")
    t0 = max(never.creation_time, left.last_left_at)
    assert reg.close_idle(int(t0)) == []
    assert reg.close_idle(int(t0) + 1) == ["left"]  # departure_timeout since the leave
    assert reg.close_idle(int(t0) + 2) == ["never"]  # empty_timeout since creation
    busy = reg.get_or_create("busy", empty_timeout=0)
    reg.join("busy", Participant(sid="PA_y", identity="y"))
    assert reg.close_idle(busy.creation_time + 99) == []


async def rooms(lk: api.LiveKitAPI) -> set[str]:
    return {r.name for r in (await lk.room.list_rooms(ListRoomsRequest())).rooms}


async def test_rooms_close_by_themselves(sandbox: Sandbox) -> None:
    async with api.LiveKitAPI(sandbox.url, sandbox.api_key, sandbox.api_secret) as lk:
        await lk.room.create_room(CreateRoomRequest(name="brief", empty_timeout=1))
        await lk.room.create_room(CreateRoomRequest(name="stays"))
        end = time.monotonic() + 5
        while "brief" in await rooms(lk) and time.monotonic() < end:
            await asyncio.sleep(0.1)
        assert await rooms(lk) == {"stays"}


@pytest.mark.sip
async def test_sip_participant_track_permission_state(provider: Provider, sandbox: Sandbox) -> None:
    async with api.LiveKitAPI(sandbox.url, sandbox.api_key, sandbox.api_secret) as lk:
        await lk.room.create_room(CreateRoomRequest(name="e2e", departure_timeout=1))
        trunk = await make_trunk(lk, provider)
        await lk.sip.create_sip_participant(dial(trunk, "ringing", wait_until_answered=False))
        ps = (await lk.room.list_participants(ListParticipantsRequest(room="e2e"))).participants
        p = ps[0]
        assert p.identity == "sip_" + NUMBERS["ringing"]
        assert p.state == models.ParticipantInfo.State.ACTIVE and p.is_publisher
        assert [(t.name, t.type) for t in p.tracks] == [(p.identity, models.TrackType.AUDIO)]
        assert p.tracks[0].sid.startswith("TR_")
        perm = p.permission
        assert perm.can_publish and perm.can_subscribe and perm.can_publish_data
        got = await lk.room.get_participant(
            api.RoomParticipantIdentity(room="e2e", identity=p.identity)
        )
        assert got.is_publisher and len(got.tracks) == 1
        # the call goes, the room empties, and closes after its departure_timeout
        await lk.room.remove_participant(
            api.RoomParticipantIdentity(room="e2e", identity=p.identity)
        )
        end = time.monotonic() + 6
        while "e2e" in await rooms(lk) and time.monotonic() < end:
            await asyncio.sleep(0.1)
        assert "e2e" not in await rooms(lk)
