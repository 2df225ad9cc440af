"""The SIP bridge in-process (Bridge + RoomRegistry) against Kamailio + SIPp."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any

import pytest
from google.protobuf.duration_pb2 import Duration
from livekit.protocol import models
from livekit.protocol.sip import (
    CreateSIPParticipantRequest,
    SIPHeaderOptions,
    SIPOutboundTrunkInfo,
    SIPStatus,
    SIPTransport,
)

from sipctl.sandbox.bridge import Bridge
from sipctl.sandbox.errors import TwirpError
from sipctl.sandbox.provider import NUMBERS, Provider
from sipctl.sandbox.rooms import Participant, RoomRegistry
from sipctl.sandbox.sip.message import Request, parse_message
from sipctl.sandbox.sip.status import decode_error_details
from sipctl.sandbox.sip.transaction import Timers, response_for
from tests.fixtures.provider import ProviderFactory

pytestmark = pytest.mark.sip
LOG = logging.getLogger("test.bridge")
FROM = "+15557770000"
TRANSPORT = {"udp": SIPTransport.SIP_TRANSPORT_UDP, "tcp": SIPTransport.SIP_TRANSPORT_TCP}


class RecordingRooms(RoomRegistry):
    """A registry that remembers joins, attribute updates and leaves, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, str, dict[str, str]]] = []

    def join(self, room_name: str, participant: Participant) -> Any:
        self.events.append(("join", participant.identity, dict(participant.attributes)))
        return super().join(room_name, participant)

    def set_attributes(self, room_name: str, identity: str, attrs: dict[str, str]) -> None:
        self.events.append(("attrs", identity, dict(attrs)))
        super().set_attributes(room_name, identity, attrs)

    def leave(self, room_name: str, identity: str) -> None:
        self.events.append(("leave", identity, {}))
        super().leave(room_name, identity)

    def statuses(self, identity: str) -> list[str]:
        return [
            attrs["sip.callStatus"]
            for kind, who, attrs in self.events
            if who == identity and "sip.callStatus" in attrs
        ]

    def left(self, identity: str) -> bool:
        return any(kind == "leave" and who == identity for kind, who, _ in self.events)


def trunk_for(prov: Provider | None, transport: str = "udp", **kw: Any) -> SIPOutboundTrunkInfo:
    fields: dict[str, Any] = {
        "sip_trunk_id": "ST_test",
        "name": "test",
        "address": prov.address if prov else "127.0.0.1:9",
        "numbers": [FROM],
        "auth_username": prov.username if prov else "",
        "auth_password": prov.password if prov else "",
        "transport": TRANSPORT[transport],
    }
    fields.update(kw)
    return SIPOutboundTrunkInfo(**fields)


def request(
    scenario: str, *, wait: bool = True, ringing: float = 2.0, **kw: Any
) -> CreateSIPParticipantRequest:
    fields: dict[str, Any] = {
        "sip_trunk_id": "ST_test",
        "sip_call_to": NUMBERS[scenario],
        "room_name": "room1",
        "wait_until_answered": wait,
        "ringing_timeout": Duration(seconds=int(ringing), nanos=int((ringing % 1) * 1e9)),
    }
    fields.update(kw)
    return CreateSIPParticipantRequest(**fields)


async def until(cond: Any, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


@pytest.fixture
async def rooms() -> RecordingRooms:
    return RecordingRooms()


@pytest.fixture
async def bridge(rooms: RecordingRooms) -> Any:
    b = Bridge(rooms, "127.0.0.1", LOG)
    yield b
    await b.close()
    assert b.calls == {}


# ----------------------------------------------------------------------------- answered
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_answered_attributes_then_removed(
    provider: Provider, rooms: RecordingRooms, bridge: Bridge, transport: str
) -> None:
    trunk = trunk_for(provider, transport, headers_to_attributes={"X-Provider-Scenario": "scen"})
    req = request(
        "answer",
        participant_attributes={"team": "qa"},
        include_headers=SIPHeaderOptions.SIP_X_HEADERS,
        headers={"X-Lk-Test-Id": "t-123"},
    )
    info = await bridge.create_sip_participant(req, trunk, FROM)
    ident = "sip_" + NUMBERS["answer"]
    assert info.participant_identity == ident and info.room_name == "room1"
    assert info.sip_call_id.startswith("SCL_") and info.participant_id.startswith("PA_")
    join = rooms.events[0]
    assert join[0] == "join"
    assert list(join[2].items()) == [
        ("team", "qa"),
        ("sip.callID", info.sip_call_id),
        ("sip.trunkID", "ST_test"),
        ("sip.phoneNumber", NUMBERS["answer"]),
        ("sip.hostname", provider.address),
        ("sip.trunkPhoneNumber", FROM),
        ("sip.callStatus", "dialing"),
    ]
    assert rooms.statuses(ident) == ["dialing", "ringing", "active"]
    p = rooms.find("room1", ident)
    assert p is not None and p.kind == models.ParticipantInfo.Kind.SIP
    attrs = p.attributes
    assert attrs["sip.callStatus"] == "active"
    assert attrs["scen"] == "answer"  # headers_to_attributes
    assert attrs["sip.h.x-provider-scenario"] == "answer"  # include_headers=X
    assert attrs["lktest.id"] == "t-123"  # request header reached the carrier, echoed back
    assert "SIPpTag" in attrs["sip.callTag"]
    assert attrs["sip.callIDFull"] and attrs["sip.callIDFull"] != info.sip_call_id
    assert len(bridge.calls) == 1
    call = bridge.calls[info.sip_call_id].call
    assert call is not None

    assert await rooms.remove_participant("room1", ident)
    await until(lambda: not bridge.calls)
    assert call.end_reason == "local-bye"
    assert rooms.statuses(ident)[-1] == "active"  # removal does not set hangup
    assert rooms.find("room1", ident) is None


async def test_dtmf_sets_automation_then_active(
    provider: Provider, rooms: RecordingRooms, bridge: Bridge
) -> None:
    t0 = time.monotonic()
    info = await bridge.create_sip_participant(
        request("answer", dtmf="12w"), trunk_for(provider), FROM
    )
    assert time.monotonic() - t0 > 1.4  # 2 digits x 0.5 s + 0.5 s pause
    ident = info.participant_identity
    assert rooms.statuses(ident) == ["dialing", "ringing", "automation", "active"]
    call = bridge.calls[info.sip_call_id].call
    assert call is not None and call.rtp.packets_sent > 40


async def test_max_call_duration_hangs_up(
    provider: Provider, rooms: RecordingRooms, bridge: Bridge
) -> None:
    req = request("answer", max_call_duration=Duration(seconds=1))
    info = await bridge.create_sip_participant(req, trunk_for(provider), FROM)
    call = bridge.calls[info.sip_call_id].call
    await until(lambda: rooms.left(info.participant_identity), 4)
    assert rooms.statuses(info.participant_identity)[-2:] == ["active", "hangup"]
    assert call is not None and call.end_reason == "local-bye"


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_far_end_hangs_up(
    provider: Provider, rooms: RecordingRooms, bridge: Bridge, transport: str
) -> None:
    info = await bridge.create_sip_participant(
        request("hangup"), trunk_for(provider, transport), FROM
    )
    await until(lambda: rooms.left(info.participant_identity), 5)
    assert rooms.statuses(info.participant_identity) == ["dialing", "ringing", "active", "hangup"]
    await until(lambda: not bridge.calls)


async def test_hide_phone_number_and_identity(
    provider: Provider, rooms: RecordingRooms, bridge: Bridge
) -> None:
    req = request(
        "answer", hide_phone_number=True, participant_identity="agent-7", participant_name="Seven"
    )
    info = await bridge.create_sip_participant(req, trunk_for(provider), FROM)
    p = rooms.find("room1", "agent-7")
    assert info.participant_identity == "agent-7" and p is not None and p.name == "Seven"
    for key in ("sip.phoneNumber", "sip.hostname", "sip.trunkPhoneNumber"):
        assert key not in p.attributes
    assert p.attributes["sip.trunkID"] == "ST_test"


async def test_from_header_display_name_rules(provider: Provider, bridge: Bridge) -> None:
    trunk = trunk_for(provider, from_host="pbx.example.com")
    unset = await bridge.create_sip_participant(request("answer"), trunk, FROM)
    empty = await bridge.create_sip_participant(
        request("answer", display_name="", participant_identity="b"), trunk, FROM
    )
    named = await bridge.create_sip_participant(
        request("answer", display_name="ACME Support", participant_identity="c"), trunk, FROM
    )

    def from_of(info: Any) -> str:
        call = bridge.calls[info.sip_call_id].call
        assert call is not None
        return str(call.from_header)

    # like the bridge, the From URI carries the trunk's explicit transport
    uri = f"sip:{FROM}@pbx.example.com;transport=udp"
    assert from_of(unset) == f'"{FROM}" <{uri}>;tag={unset.sip_call_id}'
    assert from_of(empty) == f"<{uri}>;tag={empty.sip_call_id}"
    assert from_of(named).startswith('"ACME Support" <sip:')


async def test_same_identity_replaces_the_older_call(
    provider: Provider, rooms: RecordingRooms, bridge: Bridge
) -> None:
    first = await bridge.create_sip_participant(request("answer"), trunk_for(provider), FROM)
    old = bridge.calls[first.sip_call_id].call
    second = await bridge.create_sip_participant(request("answer"), trunk_for(provider), FROM)
    assert old is not None and old.end_reason == "local-bye"
    await until(lambda: list(bridge.calls) == [second.sip_call_id])


# ------------------------------------------------------------------------------ failures
def meta_status(err: TwirpError) -> tuple[int, str, SIPStatus]:
    code, message, details = decode_error_details(err.meta["error_details"])
    assert [d[0] for d in details] == ["type.googleapis.com/livekit.SIPStatus"]
    return code, message, SIPStatus.FromString(details[0][1])


@pytest.mark.parametrize(
    ("scenario", "code", "http", "msg", "grpc"),
    [
        ("busy", "resource_exhausted", 429, "INVITE failed: sip status: 486: Busy Here", 8),
        ("unknown", "not_found", 404, "INVITE failed: sip status: 404: Not Found", 5),
        (
            "unavailable",
            "failed_precondition",
            412,
            "unexpected status from INVITE response: sip status: 503: Service Unavailable",
            9,
        ),
    ],
)
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_sip_status_errors(
    provider: Provider,
    rooms: RecordingRooms,
    bridge: Bridge,
    transport: str,
    scenario: str,
    code: str,
    http: int,
    msg: str,
    grpc: int,
) -> None:
    with pytest.raises(TwirpError) as info:
        await bridge.create_sip_participant(request(scenario), trunk_for(provider, transport), FROM)
    err = info.value
    assert (err.code, err.http_status) == (code, http)
    assert err.msg == "twirp error unknown: " + msg
    sip_code, text = msg.split("sip status: ")[1].split(": ")
    assert err.meta["sip_status_code"] == sip_code
    assert err.meta["sip_status"] == text
    g, message, st = meta_status(err)
    assert (g, message) == (grpc, msg)
    assert (int(st.code), st.status) == (int(err.meta["sip_status_code"]), text)
    ident = "sip_" + NUMBERS[scenario]
    assert rooms.left(ident) and rooms.find("room1", ident) is None
    await until(lambda: not bridge.calls)


async def test_wrong_password_is_permission_denied(
    provider: Provider, rooms: RecordingRooms, bridge: Bridge
) -> None:
    with pytest.raises(TwirpError) as info:
        await bridge.create_sip_participant(
            request("answer"), trunk_for(provider, auth_password="nope"), FROM
        )
    err = info.value
    assert (err.code, err.http_status) == ("permission_denied", 403)
    assert (
        err.msg
        == "twirp error unknown: unexpected status from INVITE response: sip status: 403: Forbidden"
    )
    assert err.meta["sip_status_code"] == "403" and err.meta["sip_status"] == "Forbidden"


async def test_missing_credentials_is_failed_precondition_without_meta(
    provider: Provider, bridge: Bridge
) -> None:
    with pytest.raises(TwirpError) as info:
        await bridge.create_sip_participant(
            request("answer"), trunk_for(provider, auth_username="", auth_password=""), FROM
        )
    err = info.value
    assert (err.code, err.http_status, err.meta) == ("failed_precondition", 412, {})
    assert err.msg == (
        "twirp error unknown: sip server required auth, but no username or password was provided"
    )


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_ringing_timeout_cancels(
    provider: Provider, rooms: RecordingRooms, bridge: Bridge, transport: str
) -> None:
    t0 = time.monotonic()
    with pytest.raises(TwirpError) as info:
        await bridge.create_sip_participant(
            request("ringing", ringing=1.0), trunk_for(provider, transport), FROM
        )
    assert time.monotonic() - t0 > 0.9  # not before the ringing timeout
    err = info.value
    assert (err.code, err.http_status, err.msg, err.meta) == (
        "canceled",
        408,
        "twirp error unknown: sip request timed out",
        {},
    )
    ident = "sip_" + NUMBERS["ringing"]
    assert rooms.statuses(ident) == ["dialing", "ringing"]
    assert rooms.find("room1", ident) is None
    await until(lambda: not bridge.calls)


async def test_without_wait_failures_just_remove_the_participant(
    provider: Provider, rooms: RecordingRooms, bridge: Bridge
) -> None:
    info = await bridge.create_sip_participant(
        request("busy", wait=False), trunk_for(provider), FROM
    )
    joined = rooms.find("room1", info.participant_identity)
    assert joined is not None
    assert joined.attributes["sip.callStatus"] == "dialing"  # returned at join, before SIP
    await until(lambda: rooms.left(info.participant_identity))
    assert rooms.statuses(info.participant_identity) == ["dialing"]


async def test_remove_while_ringing_sends_cancel(
    provider: Provider, rooms: RecordingRooms, bridge: Bridge
) -> None:
    info = await bridge.create_sip_participant(
        request("ringing", wait=False, ringing=10), trunk_for(provider), FROM
    )
    await until(lambda: rooms.statuses(info.participant_identity)[-1:] == ["ringing"])
    call = bridge.calls[info.sip_call_id].call
    assert call is not None
    await rooms.delete_room("room1")
    await until(lambda: not bridge.calls)
    tx = call._invite_tx
    assert tx is not None and tx.final is not None and tx.final.status == 487
    assert rooms.statuses(info.participant_identity)[-1] == "ringing"


async def test_nothing_listening_udp_is_transaction_timeout(rooms: RecordingRooms) -> None:
    quiet = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    quiet.bind(("127.0.0.1", 0))
    bridge = Bridge(rooms, "127.0.0.1", LOG, timers=Timers(t1=0.01))
    try:
        trunk = trunk_for(None, address=f"127.0.0.1:{quiet.getsockname()[1]}")
        with pytest.raises(TwirpError) as info:
            await bridge.create_sip_participant(request("answer", ringing=10), trunk, FROM)
        assert (info.value.code, info.value.msg, info.value.meta) == (
            "canceled",
            "twirp error unknown: transaction failed to complete (0 intermediate responses)",
            {},
        )
    finally:
        await bridge.close()
        quiet.close()


async def test_nothing_listening_tcp_is_failed_precondition(bridge: Bridge) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    trunk = trunk_for(None, "tcp", address=f"127.0.0.1:{port}")
    with pytest.raises(TwirpError) as info:
        await bridge.create_sip_participant(request("answer"), trunk, FROM)
    assert info.value.code == "failed_precondition"
    assert info.value.msg == (
        f"twirp error unknown: dial tcp 127.0.0.1:{port}: connect: connection refused"
    )


async def test_unresolvable_host_is_invalid_argument(bridge: Bridge) -> None:
    trunk = trunk_for(None, address="nonexistent.invalid")
    with pytest.raises(TwirpError) as info:
        await bridge.create_sip_participant(request("answer"), trunk, FROM)
    assert (info.value.code, info.value.msg) == (
        "invalid_argument",
        "twirp error unknown: lookup nonexistent.invalid: no such host",
    )


async def test_tls_is_dialled_like_tcp(bridge: Bridge, rooms: RecordingRooms) -> None:
    # TLS is dialled as LiveKit dials it (tests/sandbox/test_sip_tls.py, with Kamailio's
    # TLS listener); nothing listening is a connection error, as for TCP
    trunk = trunk_for(None, transport="tcp", address=f"127.0.0.1:{dead_port()}")
    trunk.transport = SIPTransport.SIP_TRANSPORT_TLS
    with pytest.raises(TwirpError) as info:
        await bridge.create_sip_participant(request("answer"), trunk, FROM)
    assert info.value.code == "failed_precondition"
    assert "connect: connection refused" in info.value.msg
    assert rooms.left("sip_" + NUMBERS["answer"])


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------- the auth loop, with a scripted peer
class ChallengingPeer:
    """Answers every INVITE with 407 (``header``=False: without Proxy-Authenticate)."""

    def __init__(self, header: bool = True) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.header = header
        self.invites = 0
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data, src = await loop.sock_recvfrom(self.sock, 65535)
            msg = parse_message(data)
            if isinstance(msg, Request) and msg.method == "INVITE":
                self.invites += 1
                resp = response_for(msg, 407, "Proxy Authentication Required", f"t{self.invites}")
                if self.header:
                    resp.headers.add(
                        "Proxy-Authenticate",
                        f'Digest realm="r", nonce="n{self.invites}", qop="auth"',
                    )
                self.sock.sendto(resp.serialize(), src)


@pytest.mark.parametrize(
    ("header", "msg", "invites"),
    [
        (True, "max auth retry attempts reached for SIP invite", 5),
        (False, "no auth header in sip invite response", 1),
    ],
)
async def test_auth_loop_limits(bridge: Bridge, header: bool, msg: str, invites: int) -> None:
    peer = ChallengingPeer(header)
    peer.task = asyncio.create_task(peer.run())
    try:
        trunk = trunk_for(None, address=f"127.0.0.1:{peer.sock.getsockname()[1]}")
        trunk.auth_username, trunk.auth_password = "u", "p"
        with pytest.raises(TwirpError) as info:
            await bridge.create_sip_participant(request("answer"), trunk, FROM)
        assert (info.value.code, info.value.msg, info.value.meta) == (
            "failed_precondition",
            "twirp error unknown: " + msg,
            {},
        )
        assert peer.invites == invites
    finally:
        peer.task.cancel()
        peer.sock.close()


# ------------------------------------------------------------------------------- volume
async def test_close_hangs_up_everything(provider: Provider, rooms: RecordingRooms) -> None:
    bridge = Bridge(rooms, "127.0.0.1", LOG)
    answered = await bridge.create_sip_participant(request("answer"), trunk_for(provider), FROM)
    ringing = await bridge.create_sip_participant(
        request("ringing", wait=False, ringing=30, participant_identity="r"),
        trunk_for(provider),
        FROM,
    )
    await until(lambda: rooms.statuses("r")[-1:] == ["ringing"])
    calls = {k: v.call for k, v in bridge.calls.items()}
    await bridge.close()
    assert bridge.calls == {} and rooms.rooms["room1"].participants == {}
    a, r = calls[answered.sip_call_id], calls[ringing.sip_call_id]
    assert a is not None and a.end_reason == "local-bye"
    assert r is not None and r._invite_tx is not None and r._invite_tx.final is not None
    assert r._invite_tx.final.status == 487


async def test_200_concurrent_calls(
    provider_factory: ProviderFactory, rooms: RecordingRooms
) -> None:
    """200 calls live at once (set up in bursts of 50, half UDP, half TCP)."""
    prov = provider_factory()
    bridge = Bridge(rooms, "127.0.0.1", LOG)
    n, burst = 200, 50
    try:
        t0 = time.monotonic()
        results: list[Any] = []
        for start in range(0, n, burst):
            results += await asyncio.gather(
                *(
                    bridge.create_sip_participant(
                        request(
                            "answer",
                            ringing=20,
                            participant_identity=f"p{i}",
                            room_name=f"r{i % 10}",
                        ),
                        trunk_for(prov, "udp" if i % 2 else "tcp"),
                        FROM,
                    )
                    for i in range(start, start + burst)
                ),
                return_exceptions=True,
            )
        setup = time.monotonic() - t0
        failures = [r for r in results if isinstance(r, BaseException)]
        assert not failures, f"{len(failures)} calls failed, e.g. {failures[:3]!r}"
        assert len(bridge.calls) == n
        assert all(bc.status == "active" for bc in bridge.calls.values())
        LOG.warning("%d concurrent calls answered in %.2f s", n, setup)
        for i in range(10):
            await rooms.delete_room(f"r{i}")
        await until(lambda: not bridge.calls, 20)
    finally:
        await bridge.close()
    assert bridge.calls == {}


# ----------------------------------------------------------------------------- issue #14 item 8
def test_trunk_mapping_does_not_hide_builtin_attributes() -> None:
    # livekit/sip pkg/sip/types.go HeadersToAttrs: the global map, then the trunk's
    from sipctl.sandbox.bridge import headers_to_attrs
    from sipctl.sandbox.sip.message import Headers

    h = Headers([("X-Twilio-CallSid", "CA1"), ("X-Other", "o")])
    attrs = headers_to_attrs(h, {"X-Twilio-CallSid": "mine"}, 0)
    assert attrs == {"sip.twilio.callSid": "CA1", "mine": "CA1"}


async def test_builtin_mapping_applies_on_a_failure_response(
    provider: Provider, rooms: RecordingRooms, bridge: Bridge
) -> None:
    # outbound.go Invite's setState runs setExtraAttrs(nil, ...) for every non-200 reply
    req = request("busy", headers={"X-Lk-Test-Id": "t-486"})
    with pytest.raises(TwirpError):
        await bridge.create_sip_participant(req, trunk_for(provider), FROM)
    ident = "sip_" + NUMBERS["busy"]
    assert any(
        kind == "attrs" and who == ident and attrs.get("lktest.id") == "t-486"
        for kind, who, attrs in rooms.events
    )
