"""End to end: livekit-api → sandbox server (subprocess) → SIP bridge → Kamailio → SIPp."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from google.protobuf.duration_pb2 import Duration
from livekit import api
from livekit.protocol.room import ListParticipantsRequest, ListRoomsRequest, RoomParticipantIdentity
from livekit.protocol.sip import (
    CreateSIPOutboundTrunkRequest,
    CreateSIPParticipantRequest,
    SIPOutboundTrunkInfo,
    SIPTransport,
)

from sipctl.sandbox.provider import NUMBERS, Provider
from tests.fixtures.sandbox import Sandbox

pytestmark = pytest.mark.sip
FROM = "+15557770000"
TRANSPORT = {"udp": SIPTransport.SIP_TRANSPORT_UDP, "tcp": SIPTransport.SIP_TRANSPORT_TCP}


@pytest.fixture
async def lk(sandbox: Sandbox) -> AsyncIterator[api.LiveKitAPI]:
    client = api.LiveKitAPI(sandbox.url, sandbox.api_key, sandbox.api_secret)
    yield client
    await client.aclose()


async def make_trunk(lk: api.LiveKitAPI, prov: Provider, transport: str = "udp", **kw: Any) -> str:
    fields: dict[str, Any] = {
        "name": f"provider-{transport}",
        "address": prov.address,
        "numbers": [FROM],
        "auth_username": prov.username,
        "auth_password": prov.password,
        "transport": TRANSPORT[transport],
    }
    fields.update(kw)
    trunk = await lk.sip.create_outbound_trunk(
        CreateSIPOutboundTrunkRequest(trunk=SIPOutboundTrunkInfo(**fields))
    )
    return str(trunk.sip_trunk_id)


def dial(
    trunk_id: str, scenario: str, *, ringing: int = 2, **kw: Any
) -> CreateSIPParticipantRequest:
    fields: dict[str, Any] = {
        "sip_trunk_id": trunk_id,
        "sip_call_to": NUMBERS[scenario],
        "room_name": "e2e",
        "wait_until_answered": True,
        "ringing_timeout": Duration(seconds=ringing),
    }
    fields.update(kw)
    return CreateSIPParticipantRequest(**fields)


async def participants(lk: api.LiveKitAPI, room: str = "e2e") -> dict[str, dict[str, str]]:
    resp = await lk.room.list_participants(ListParticipantsRequest(room=room))
    return {p.identity: dict(p.attributes) for p in resp.participants}


async def until_empty(lk: api.LiveKitAPI, timeout: float = 6.0) -> None:
    end = time.monotonic() + timeout
    while await participants(lk):
        if time.monotonic() > end:
            raise AssertionError(f"participants left behind: {await participants(lk)}")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_answered_then_removed(
    lk: api.LiveKitAPI, provider: Provider, transport: str
) -> None:
    trunk_id = await make_trunk(lk, provider, transport)
    info = await lk.sip.create_sip_participant(dial(trunk_id, "answer", dtmf="1"))
    assert info.participant_identity == "sip_" + NUMBERS["answer"]
    assert info.sip_call_id.startswith("SCL_") and info.participant_id.startswith("PA_")
    attrs = (await participants(lk))[info.participant_identity]
    assert attrs["sip.callStatus"] == "active"
    assert attrs["sip.trunkID"] == trunk_id and attrs["sip.callID"] == info.sip_call_id
    assert attrs["sip.phoneNumber"] == NUMBERS["answer"] and attrs["sip.trunkPhoneNumber"] == FROM
    assert attrs["sip.callTag"] and attrs["sip.callIDFull"]
    await lk.room.remove_participant(
        RoomParticipantIdentity(room="e2e", identity=info.participant_identity)
    )
    await until_empty(lk)


async def test_attribute_sequence_without_waiting(lk: api.LiveKitAPI, provider: Provider) -> None:
    trunk_id = await make_trunk(lk, provider)
    info = await lk.sip.create_sip_participant(
        dial(trunk_id, "early", wait_until_answered=False, dtmf="5")
    )
    seen: list[str] = []
    end = time.monotonic() + 6
    while time.monotonic() < end and (not seen or seen[-1] != "active"):
        status = (await participants(lk)).get(info.participant_identity, {}).get("sip.callStatus")
        if status and (not seen or seen[-1] != status):
            seen.append(status)
        await asyncio.sleep(0.02)
    assert seen == ["dialing", "ringing", "automation", "active"]
    await lk.room.delete_room(api.DeleteRoomRequest(room="e2e"))
    rooms = await lk.room.list_rooms(ListRoomsRequest())
    assert [r.name for r in rooms.rooms] == []


async def test_far_end_hangs_up(lk: api.LiveKitAPI, provider: Provider) -> None:
    trunk_id = await make_trunk(lk, provider)
    info = await lk.sip.create_sip_participant(dial(trunk_id, "hangup"))
    assert (await participants(lk))[info.participant_identity]["sip.callStatus"] == "active"
    await until_empty(lk, 5)


async def test_max_call_duration(lk: api.LiveKitAPI, provider: Provider) -> None:
    trunk_id = await make_trunk(lk, provider, "tcp")
    t0 = time.monotonic()
    await lk.sip.create_sip_participant(
        dial(trunk_id, "answer", max_call_duration=Duration(seconds=1))
    )
    await until_empty(lk, 4)
    assert time.monotonic() - t0 > 0.9  # not before the timer


@pytest.mark.parametrize(
    ("scenario", "password", "code", "status", "sip_code", "msg"),
    [
        ("busy", None, "resource_exhausted", 429, 486, "INVITE failed: sip status: 486: Busy Here"),
        (
            "answer",
            "wrong",
            "permission_denied",
            403,
            403,
            "unexpected status from INVITE response: sip status: 403: Forbidden",
        ),
        ("unknown", None, "not_found", 404, 404, "INVITE failed: sip status: 404: Not Found"),
    ],
)
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_sip_failures(
    lk: api.LiveKitAPI,
    provider: Provider,
    transport: str,
    scenario: str,
    password: str | None,
    code: str,
    status: int,
    sip_code: int,
    msg: str,
) -> None:
    extra = {} if password is None else {"auth_password": password}
    trunk_id = await make_trunk(lk, provider, transport, **extra)
    with pytest.raises(api.SipCallError) as info:
        await lk.sip.create_sip_participant(dial(trunk_id, scenario))
    err = info.value
    assert (err.code, err.status, err.sip_status_code) == (code, status, sip_code)
    assert err.message == "twirp error unknown: " + msg
    assert err.sip_status == msg.rsplit(": ", 1)[1]
    assert set(err.metadata) == {"sip_status_code", "sip_status", "error_details"}
    await until_empty(lk)


async def test_ringing_timeout_is_canceled(lk: api.LiveKitAPI, provider: Provider) -> None:
    trunk_id = await make_trunk(lk, provider)
    t0 = time.monotonic()
    with pytest.raises(api.TwirpError) as info:
        await lk.sip.create_sip_participant(dial(trunk_id, "ringing", ringing=1))
    assert time.monotonic() - t0 > 0.9  # not before the timer
    err = info.value
    assert not isinstance(err, api.SipCallError)
    assert (err.code, err.status, err.message) == (
        "canceled",
        408,
        "twirp error unknown: sip request timed out",
    )
    await until_empty(lk)


@pytest.mark.parametrize(
    ("transport", "code"), [("udp", "canceled"), ("tcp", "failed_precondition")]
)
async def test_nothing_listening(
    lk: api.LiveKitAPI, provider: Provider, transport: str, code: str
) -> None:
    provider.stop()  # the address is now dead: UDP swallows, TCP refuses
    trunk_id = await make_trunk(lk, provider, transport)
    with pytest.raises(api.TwirpError) as info:
        await lk.sip.create_sip_participant(dial(trunk_id, "answer", ringing=1))
    assert info.value.code == code
    assert info.value.message.startswith("twirp error unknown: ")
    await until_empty(lk)
