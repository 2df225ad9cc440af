"""RoomService of the sandbox: grants, rooms, participants (joined as the bridge does)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from livekit import api
from livekit.protocol import models, room

from sipctl.sandbox.rooms import Participant
from sipctl.sandbox.server import SandboxServer, ServerConfig
from tests.fixtures.sandbox import API_KEY, API_SECRET, Sandbox, make_token, twirp_json


@pytest.fixture
async def server() -> AsyncIterator[SandboxServer]:
    """An in-process server, so tests can join participants like the SIP bridge does."""
    srv = SandboxServer(ServerConfig(port=0, api_key=API_KEY, api_secret=API_SECRET))
    await srv.start()
    yield srv
    await srv.close()


@pytest.fixture
async def lk(server: SandboxServer) -> AsyncIterator[api.LiveKitAPI]:
    client = api.LiveKitAPI(f"http://127.0.0.1:{server.port}", API_KEY, API_SECRET)
    yield client
    await client.aclose()


async def test_rooms_lifecycle(lkapi: api.LiveKitAPI, sandbox: Sandbox) -> None:
    created = await lkapi.room.create_room(room.CreateRoomRequest(name="demo", metadata="m"))
    assert created.sid.startswith("RM_") and created.name == "demo"
    assert (created.empty_timeout, created.departure_timeout, created.metadata) == (300, 20, "m")
    again = await lkapi.room.create_room(room.CreateRoomRequest(name="demo"))
    assert again.sid == created.sid
    await lkapi.room.create_room(room.CreateRoomRequest(name="alpha"))
    names = [r.name for r in (await lkapi.room.list_rooms(room.ListRoomsRequest())).rooms]
    assert names == ["alpha", "demo"]
    only = await lkapi.room.list_rooms(room.ListRoomsRequest(names=["demo", "missing"]))
    assert [r.name for r in only.rooms] == ["demo"]
    await lkapi.room.delete_room(room.DeleteRoomRequest(room="demo"))
    assert [r["name"] for r in sandbox.state()["rooms"]] == ["alpha"]
    with pytest.raises(api.TwirpError) as err:
        await lkapi.room.delete_room(room.DeleteRoomRequest(room="demo"))
    assert (err.value.code, err.value.message) == (
        "not_found",
        "twirp error unknown: requested room does not exist",
    )


@pytest.mark.parametrize(
    ("method", "body", "grants"),
    [
        ("CreateRoom", {"name": "r"}, {"room_list": True, "room_admin": True, "room": "r"}),
        ("ListRooms", {}, {"room_create": True}),
        ("DeleteRoom", {"room": "r"}, {"room_admin": True, "room": "r"}),
        ("ListParticipants", {"room": "r"}, {"room_admin": True, "room": "other"}),
        ("GetParticipant", {"room": "r", "identity": "p"}, {"room_admin": False, "room": "r"}),
        ("RemoveParticipant", {"room": "r", "identity": "p"}, {"room_create": True}),
        ("UpdateParticipant", {"room": "r", "identity": "p"}, {"room_list": True}),
    ],
)
async def test_room_grants(
    sandbox: Sandbox, method: str, body: dict[str, str], grants: dict[str, object]
) -> None:
    tok = make_token(sandbox, sip_admin=True, sip_call=True, **grants)
    status, answer = await twirp_json(sandbox, "RoomService", method, body, tok)
    assert (status, answer) == (401, {"code": "unauthenticated", "msg": "permissions denied"})


async def test_participants(server: SandboxServer, lk: api.LiveKitAPI) -> None:
    hung_up: list[str] = []

    async def hang_up() -> None:
        hung_up.append("bye")

    server.rooms.join(
        "call-room",
        Participant(
            sid="PA_test",
            identity="sip_+1555",
            kind=models.ParticipantInfo.Kind.SIP,
            attributes={"sip.callStatus": "active"},
            on_remove=hang_up,
        ),
    )
    people = await lk.room.list_participants(room.ListParticipantsRequest(room="call-room"))
    assert [p.identity for p in people.participants] == ["sip_+1555"]
    got = await lk.room.get_participant(
        room.RoomParticipantIdentity(room="call-room", identity="sip_+1555")
    )
    assert (
        got.kind == models.ParticipantInfo.Kind.SIP and got.attributes["sip.callStatus"] == "active"
    )
    updated = await lk.room.update_participant(
        room.UpdateParticipantRequest(
            room="call-room",
            identity="sip_+1555",
            name="Caller",
            attributes={"x": "1", "sip.callStatus": ""},
        )
    )
    assert updated.name == "Caller" and dict(updated.attributes) == {"x": "1"}
    await lk.room.remove_participant(
        room.RoomParticipantIdentity(room="call-room", identity="sip_+1555")
    )
    assert hung_up == ["bye"]
    with pytest.raises(api.TwirpError) as err:
        await lk.room.remove_participant(
            room.RoomParticipantIdentity(room="call-room", identity="sip_+1555")
        )
    # livekit-server roomservice.go RemoveParticipant: ErrParticipantNotFound (psrpc)
    assert (err.value.code, err.value.message, err.value.status) == (
        "not_found",
        "twirp error unknown: participant does not exist",
        404,
    )
    with pytest.raises(api.TwirpError) as err:
        await lk.room.get_participant(
            room.RoomParticipantIdentity(room="call-room", identity="sip_+1555")
        )
    assert (err.value.code, err.value.message) == (
        "not_found",
        "twirp error unknown: participant does not exist",
    )
    empty = await lk.room.list_participants(room.ListParticipantsRequest(room="no-such-room"))
    assert list(empty.participants) == []


async def test_delete_room_hangs_up(server: SandboxServer, lk: api.LiveKitAPI) -> None:
    hung_up: list[str] = []

    async def hang_up() -> None:
        hung_up.append("bye")

    server.rooms.join("r", Participant(sid="PA_a", identity="a", on_remove=hang_up))
    await lk.room.delete_room(room.DeleteRoomRequest(room="r"))
    assert hung_up == ["bye"] and "r" not in server.rooms.rooms


async def test_update_participant_limits(server: SandboxServer, lk: api.LiveKitAPI) -> None:
    server.rooms.join("r", Participant(sid="PA_a", identity="a"))
    with pytest.raises(api.TwirpError) as err:
        await lk.room.update_participant(
            room.UpdateParticipantRequest(room="r", identity="a", metadata="x" * 64001)
        )
    assert (err.value.code, err.value.message) == (
        "invalid_argument",
        "metadata size exceeds limits 64000",
    )
