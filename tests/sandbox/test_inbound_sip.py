"""Inbound SIP in the sandbox (issue #15 items 1-2), end to end.

livekit-api -> sandbox outbound bridge -> Kamailio (+1555070... forwarded, as a DID routed
to LiveKit) -> the sandbox's inbound SIP listener -> trunk + dispatch rule -> a SIP
participant in the room. Sources: livekit/sip pkg/sip/inbound.go (processInvite,
handleInviteAuth, handleInvite, waitSubscribe), livekit-server pkg/service/ioservice_sip.go
(EvaluateSIPDispatchRules), livekit/protocol sip/sip.go (MatchTrunkDetailed,
MatchDispatchRuleIter, EvaluateDispatchRule).
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from livekit import api
from livekit.protocol.agent_dispatch import RoomAgentDispatch
from livekit.protocol.room import ListParticipantsRequest, ListRoomsRequest, RoomConfiguration
from livekit.protocol.sip import (
    CreateSIPDispatchRuleRequest,
    CreateSIPInboundTrunkRequest,
    CreateSIPOutboundTrunkRequest,
    CreateSIPParticipantRequest,
    SIPDispatchRule,
    SIPDispatchRuleDirect,
    SIPDispatchRuleIndividual,
    SIPDispatchRuleInfo,
    SIPInboundTrunkInfo,
    SIPMediaEncryption,
    SIPOutboundTrunkInfo,
)

from sipctl.sandbox.provider import NUMBERS, Provider, free_port
from sipctl.sandbox.sip.digest import Challenge, compute_response
from tests.fixtures.provider import ProviderFactory
from tests.fixtures.sandbox import Sandbox, SandboxFactory

pytestmark = pytest.mark.sip
DID = NUMBERS["livekit"]  # +15550700001
CALLER = "+15557770000"


@pytest.fixture
def sip_port() -> int:
    return free_port()


@pytest.fixture
def prov(provider_factory: ProviderFactory, sip_port: int, tmp_path: Path) -> Iterator[Provider]:
    # set up before the sandbox, so it stops after it (the sandbox hangs up through it)
    p = Provider(tmp_path / "prov-lk", livekit_sip=f"127.0.0.1:{sip_port}")
    p.start()
    yield p
    p.stop()


@pytest.fixture
def inbound_sandbox(sandbox_factory: SandboxFactory, sip_port: int) -> Sandbox:
    return sandbox_factory(extra_args=["--sip-port", str(sip_port)])


@pytest.fixture
async def lk(inbound_sandbox: Sandbox) -> AsyncIterator[api.LiveKitAPI]:
    async with api.LiveKitAPI(
        inbound_sandbox.url, inbound_sandbox.api_key, inbound_sandbox.api_secret
    ) as client:
        yield client


async def outbound_trunk(lk: api.LiveKitAPI, prov: Provider) -> str:
    t = await lk.sip.create_outbound_trunk(
        CreateSIPOutboundTrunkRequest(
            trunk=SIPOutboundTrunkInfo(
                name="out",
                address=prov.address,
                numbers=[CALLER],
                auth_username=prov.username,
                auth_password=prov.password,
            )
        )
    )
    return str(t.sip_trunk_id)


async def place(lk: api.LiveKitAPI, trunk: str, to: str = DID, **kw: Any) -> None:
    await lk.sip.create_sip_participant(
        CreateSIPParticipantRequest(
            sip_trunk_id=trunk, sip_call_to=to, room_name="caller", participant_identity="out", **kw
        )
    )


async def arrived(lk: api.LiveKitAPI, timeout: float = 8.0) -> tuple[str, Any]:
    """The first SIP participant in a room other than the caller's."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        rooms = (await lk.room.list_rooms(ListRoomsRequest())).rooms
        for r in rooms:
            if r.name == "caller":
                continue
            ps = (
                await lk.room.list_participants(ListParticipantsRequest(room=r.name))
            ).participants
            if ps:
                return r.name, ps[0]
        await asyncio.sleep(0.05)
    raise AssertionError("no inbound participant arrived")


def test_sip_port_zero_prints_the_address(sandbox_factory: SandboxFactory) -> None:
    inbound_sandbox = sandbox_factory(extra_args=["--sip-port", "0"])
    assert inbound_sandbox.sip_port
    assert f"sip=127.0.0.1:{inbound_sandbox.sip_port}" in inbound_sandbox.log_text()
    # OPTIONS is answered (inbound.go onOptions) on UDP and TCP
    from sipctl.sandbox.provider import sip_options

    assert (sip_options(inbound_sandbox.sip_port, 1) or "").startswith("SIP/2.0 200")
    assert (sip_options(inbound_sandbox.sip_port, 1, "tcp") or "").startswith("SIP/2.0 200")


def test_no_listener_without_the_flag(sandbox: Sandbox) -> None:
    assert sandbox.sip_port is None
    assert "sip=" not in sandbox.log_text()


async def test_call_through_the_provider_arrives_with_livekit_attributes(
    prov: Provider, inbound_sandbox: Sandbox, lk: api.LiveKitAPI
) -> None:
    out = await outbound_trunk(lk, prov)
    trunk = await lk.sip.create_inbound_trunk(
        CreateSIPInboundTrunkRequest(
            trunk=SIPInboundTrunkInfo(
                name="in", numbers=["15550700001"], headers_to_attributes={"X-Lk-Test-Id": "t"}
            )
        )
    )
    rule = await lk.sip.create_dispatch_rule(
        CreateSIPDispatchRuleRequest(
            rule=SIPDispatchRule(dispatch_rule_direct=SIPDispatchRuleDirect(room_name="sales")),
            trunk_ids=[trunk.sip_trunk_id],
            name="sales",
            metadata="rule-meta",
            attributes={"team": "sales"},
            room_config=RoomConfiguration(agents=[RoomAgentDispatch(agent_name="receptionist")]),
        )
    )
    await place(lk, out, headers={"X-Lk-Test-Id": "probe-1"})
    room, p = await arrived(lk)
    assert room == "sales"
    a = dict(p.attributes)
    # EvaluateDispatchRule + HeadersToAttrs + createLiveKitParticipant
    assert p.identity == "sip_" + CALLER and p.name == "Phone " + CALLER
    assert p.metadata == "rule-meta" and p.kind == 3  # SIP
    assert a["team"] == "sales"
    assert a["sip.trunkID"] == trunk.sip_trunk_id
    assert a["sip.ruleID"] == rule.sip_dispatch_rule_id
    assert a["sip.phoneNumber"] == CALLER
    assert a["sip.trunkPhoneNumber"] == DID
    assert a["sip.callID"].startswith("SCL_")
    assert a["sip.callStatus"] == "ringing"  # until someone subscribes (waitSubscribe)
    assert a["t"] == "probe-1"  # the trunk's headers_to_attributes
    assert a["sip.callIDFull"] and a["sip.callTag"]
    dispatches = await lk.agent_dispatch.list_dispatch("sales")  # AgentDispatchService
    assert [d.agent_name for d in dispatches] == ["receptionist"]
    assert dispatches[0].id.startswith("AD_") and dispatches[0].room == "sales"

    # an agent subscribes: the call is answered on both legs
    status, _ = inbound_sandbox.admin(
        "POST", "subscribe", {"room": "sales", "identity": p.identity}
    )
    assert status == 200
    await until_attr(lk, "sales", p.identity, "active")
    await until_attr(lk, "caller", "out", "active")
    # the caller hangs up: the inbound participant leaves
    await lk.room.remove_participant(api.RoomParticipantIdentity(room="caller", identity="out"))
    await until_gone(lk, "sales", p.identity)


async def until_attr(lk: api.LiveKitAPI, room: str, identity: str, status: str) -> None:
    end = time.monotonic() + 8
    while time.monotonic() < end:
        ps = (await lk.room.list_participants(ListParticipantsRequest(room=room))).participants
        found = {x.identity: x.attributes.get("sip.callStatus") for x in ps}
        if found.get(identity) == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{identity} in {room} never became {status}: {found}")


async def until_gone(lk: api.LiveKitAPI, room: str, identity: str) -> None:
    end = time.monotonic() + 8
    while time.monotonic() < end:
        ps = (await lk.room.list_participants(ListParticipantsRequest(room=room))).participants
        if identity not in {x.identity for x in ps}:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{identity} still in {room}")


async def test_individual_rule_room_and_pin_over_dtmf(prov: Provider, lk: api.LiveKitAPI) -> None:
    out = await outbound_trunk(lk, prov)
    await lk.sip.create_dispatch_rule(
        CreateSIPDispatchRuleRequest(
            rule=SIPDispatchRule(
                dispatch_rule_individual=SIPDispatchRuleIndividual(room_prefix="call", pin="1234")
            ),
        )
    )
    # no trunk matches (none defined): only rules without trunk_ids apply; the PIN
    # is asked after the answer and read from RFC 4733 digits up to '#'
    await place(lk, out, dtmf="1234#", wait_until_answered=True)
    room, p = await arrived(lk, 10)
    assert room.startswith(f"call_{CALLER}_") and len(room) == len(f"call_{CALLER}_") + 12
    assert p.attributes["sip.callStatus"] == "active"
    assert p.attributes["sip.trunkID"] == ""


# --- rejections over raw SIP -------------------------------------------------------------
def invite(
    port: int,
    to: str,
    *,
    transport: str = "udp",
    extra: str = "",
    cid: str = "",
    until: str = "",
    wait: float = 1.5,
) -> tuple[str, list[str]]:
    """Send one INVITE; return (Call-ID, the status lines received within 1.5 s)."""
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    s = socket.socket(socket.AF_INET, kind)
    s.settimeout(0.3)
    s.connect(("127.0.0.1", port))
    lport = s.getsockname()[1]
    cid = cid or uuid.uuid4().hex
    sdp = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
    )
    msg = (
        f"INVITE sip:{to}@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport.upper()} 127.0.0.1:{lport};branch=z9hG4bK{uuid.uuid4().hex[:10]}"
        ";rport\r\n"
        f"From: <sip:{CALLER}@127.0.0.1>;tag=ft{cid[:6]}\r\n"
        f"To: <sip:{to}@127.0.0.1>\r\nCall-ID: {cid}\r\nCSeq: 1 INVITE\r\n"
        f"Contact: <sip:{CALLER}@127.0.0.1:{lport}>\r\nMax-Forwards: 70\r\n{extra}"
        f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
    )
    s.sendall(msg.encode())
    global LAST_RAW
    lines: list[str] = []
    end = time.monotonic() + wait
    buf = b""
    while time.monotonic() < end and not (until and until in buf.decode(errors="replace")):
        try:
            data = s.recv(65535)
        except (TimeoutError, OSError):
            continue
        if not data:
            break
        buf += data
        for part in buf.split(b"SIP/2.0 ")[1:]:
            line = "SIP/2.0 " + part.split(b"\r\n", 1)[0].decode()
            if line not in lines:
                lines.append(line)
    s.close()
    LAST_RAW = buf.decode(errors="replace")
    return cid, lines


LAST_RAW = ""


async def test_unknown_number_is_dropped_silently(
    lk: api.LiveKitAPI, inbound_sandbox: Sandbox
) -> None:
    await lk.sip.create_inbound_trunk(
        CreateSIPInboundTrunkRequest(trunk=SIPInboundTrunkInfo(name="in", numbers=["+15550700001"]))
    )
    await lk.sip.create_dispatch_rule(
        CreateSIPDispatchRuleRequest(
            dispatch_rule=SIPDispatchRuleInfo(
                rule=SIPDispatchRule(dispatch_rule_direct=SIPDispatchRuleDirect(room_name="r")),
                numbers=["+15550700001"],
            )
        )
    )
    port = inbound_sandbox.sip_port
    assert port
    # no trunk and no rule for this number: DROP (ioservice_sip.go: ErrNoDispatchMatched)
    _, lines = await asyncio.to_thread(invite, port, "+15550709999")
    assert lines == ["SIP/2.0 100 Processing", "SIP/2.0 180 Ringing"]


async def test_wrong_source_address_and_password(
    lk: api.LiveKitAPI, inbound_sandbox: Sandbox
) -> None:
    port = inbound_sandbox.sip_port
    assert port
    await lk.sip.create_inbound_trunk(
        CreateSIPInboundTrunkRequest(
            trunk=SIPInboundTrunkInfo(
                name="ip", numbers=["+15550700002"], allowed_addresses=["10.0.0.0/8"]
            )
        )
    )
    await lk.sip.create_inbound_trunk(
        CreateSIPInboundTrunkRequest(
            trunk=SIPInboundTrunkInfo(
                name="pw", numbers=["+15550700003"], auth_username="u", auth_password="p"
            )
        )
    )
    await lk.sip.create_dispatch_rule(
        CreateSIPDispatchRuleRequest(
            dispatch_rule=SIPDispatchRuleInfo(
                rule=SIPDispatchRule(dispatch_rule_direct=SIPDispatchRuleDirect(room_name="r")),
                numbers=["+15550700009"],
            )
        )
    )
    # allowed_addresses filters the trunk out (MatchTrunkDetailed), no rule: dropped
    _, lines = await asyncio.to_thread(invite, port, "+15550700002")
    assert lines == ["SIP/2.0 100 Processing", "SIP/2.0 180 Ringing"]
    # a trunk with auth: 407 challenge first (handleInviteAuth), then a wrong response 401
    _, lines = await asyncio.to_thread(invite, port, "+15550700003", transport="tcp")
    assert lines == ["SIP/2.0 100 Processing", "SIP/2.0 407 Unauthorized"]
    _, lines = await asyncio.to_thread(
        invite,
        port,
        "+15550700003",
        extra='Proxy-Authorization: Digest username="u", realm="LiveKit", nonce="x", '
        'uri="sip:+15550700003@127.0.0.1", response="00"\r\n',
    )
    assert lines[-1] == "SIP/2.0 401 Bad credentials"  # no challenge was made for this call
    _, lines = await asyncio.to_thread(
        invite,
        port,
        "+15550700003",
        extra='Proxy-Authorization: Digest username="nobody", realm="LiveKit", nonce="x", '
        'uri="sip:+15550700003@127.0.0.1", response="00"\r\n',
    )
    assert lines[-1] == "SIP/2.0 401 Unauthorized"
    # the right answer to the challenge goes through: 100, then 180 (no rule: dropped)
    cid, lines = await asyncio.to_thread(invite, port, "+15550700003")
    challenge = Challenge.parse(
        next(
            line.split(":", 1)[1]
            for line in LAST_RAW.splitlines()
            if line.startswith("Proxy-Authenticate:")
        )
    )
    assert challenge.realm == "LiveKit" and challenge.algorithm == "MD5"
    uri = "sip:+15550700003@127.0.0.1"
    cred = compute_response(challenge, method="INVITE", uri=uri, username="u", password="p")
    _, lines = await asyncio.to_thread(
        invite,
        port,
        "+15550700003",
        cid=cid,
        extra=f"Proxy-Authorization: {cred.header_value()}\r\n",
    )
    assert lines == ["SIP/2.0 100 Processing", "SIP/2.0 180 Ringing"]


async def test_wrong_pin_hangs_up(prov: Provider, lk: api.LiveKitAPI) -> None:
    # inbound.go pinPrompt: the call is answered, digits up to '#' are checked; a PIN no
    # rule has means "wrong pin" and a BYE, and nobody joins a room
    out = await outbound_trunk(lk, prov)
    await lk.sip.create_dispatch_rule(
        CreateSIPDispatchRuleRequest(
            dispatch_rule=SIPDispatchRuleInfo(
                rule=SIPDispatchRule(
                    dispatch_rule_direct=SIPDispatchRuleDirect(room_name="vault", pin="1234")
                )
            )
        )
    )
    await place(lk, out, dtmf="9999#", wait_until_answered=True)
    await until_gone(lk, "caller", "out")  # hung up by the sandbox's inbound side
    rooms = (await lk.room.list_rooms(ListRoomsRequest())).rooms
    assert "vault" not in {r.name for r in rooms}


async def test_require_encryption_refuses_a_plain_offer(
    lk: api.LiveKitAPI, inbound_sandbox: Sandbox
) -> None:
    # inbound.go runMedia: ErrNoCommonCrypto -> 400 (the offer here is plain RTP/AVP)
    await lk.sip.create_inbound_trunk(
        CreateSIPInboundTrunkRequest(
            trunk=SIPInboundTrunkInfo(
                name="enc",
                numbers=["+15550700005"],
                media_encryption=SIPMediaEncryption.SIP_MEDIA_ENCRYPT_REQUIRE,
            )
        )
    )
    await lk.sip.create_dispatch_rule(
        CreateSIPDispatchRuleRequest(
            dispatch_rule=SIPDispatchRuleInfo(
                rule=SIPDispatchRule(dispatch_rule_direct=SIPDispatchRuleDirect(room_name="r")),
            )
        )
    )
    port = inbound_sandbox.sip_port
    assert port
    _, lines = await asyncio.to_thread(invite, port, "+15550700005")
    assert lines[-1].startswith("SIP/2.0 400")


async def test_ringing_timeout_rejects_with_486(
    lk: api.LiveKitAPI, inbound_sandbox: Sandbox
) -> None:
    # inbound.go waitSubscribe: nobody subscribed within the trunk's ringing_timeout ->
    # closeWithTerm -> CloseWithStatus 486 "Rejected"; the participant leaves
    from google.protobuf.duration_pb2 import Duration

    await lk.sip.create_inbound_trunk(
        CreateSIPInboundTrunkRequest(
            trunk=SIPInboundTrunkInfo(
                name="ring", numbers=["+15550700006"], ringing_timeout=Duration(seconds=1)
            )
        )
    )
    await lk.sip.create_dispatch_rule(
        CreateSIPDispatchRuleRequest(
            dispatch_rule=SIPDispatchRuleInfo(
                rule=SIPDispatchRule(dispatch_rule_direct=SIPDispatchRuleDirect(room_name="r6")),
            )
        )
    )
    port = inbound_sandbox.sip_port
    assert port
    _, lines = await asyncio.to_thread(invite, port, "+15550700006", until="486 Rejected", wait=10)
    assert lines == ["SIP/2.0 100 Processing", "SIP/2.0 180 Ringing", "SIP/2.0 486 Rejected"]
    await until_gone(lk, "r6", "sip_" + CALLER)


def test_provider_command_line_flags(tmp_path: Path) -> None:
    # python -m sipctl.sandbox.provider --livekit-sip HOST:PORT [--tls]: the DID line and
    # the TLS listener are announced with the numbers
    import subprocess
    import sys

    from sipctl.sandbox.provider import missing_binaries

    if missing_binaries(tls=True):
        pytest.skip("kamailio/sipp/openssl/kamailio-tls-modules not installed")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sipctl.sandbox.provider",
            "--workdir",
            str(tmp_path),
            "--livekit-sip",
            "127.0.0.1:5999",
            "--tls",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[0].startswith("ready sip=127.0.0.1:"), lines
        assert lines[1].startswith("tls=127.0.0.1:") and " ca=" in lines[1], lines
        assert "livekit=+15550700001" in lines[2] and "silent=+15550820001" in lines[2]
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0 and "stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_caller_cancel_removes_the_ringing_participant(
    prov: Provider, inbound_sandbox: Sandbox, lk: api.LiveKitAPI
) -> None:
    # inbound.go StartRinging/waitSubscribe: a CANCEL while ringing -> closeWithCancelled
    # (487 Request Terminated); how a probe that watched the arrival cleans up
    out = await outbound_trunk(lk, prov)
    await lk.sip.create_dispatch_rule(
        CreateSIPDispatchRuleRequest(
            dispatch_rule=SIPDispatchRuleInfo(
                rule=SIPDispatchRule(dispatch_rule_direct=SIPDispatchRuleDirect(room_name="lobby"))
            )
        )
    )
    await place(lk, out)  # not waited: the outbound leg rings while the inbound one rings
    room, p = await arrived(lk)
    assert room == "lobby" and p.attributes["sip.callStatus"] == "ringing"
    await lk.room.remove_participant(api.RoomParticipantIdentity(room="caller", identity="out"))
    await until_gone(lk, "lobby", p.identity)


async def test_a_password_alone_asks_callers_for_nothing(
    lk: api.LiveKitAPI, inbound_sandbox: Sandbox
) -> None:
    """LiveKit keeps an inbound trunk secured by a password alone (SIPInboundTrunkInfo.
    ValidateResult counts it) but challenges callers only when username and password are
    both set (handleInviteAuth): the call goes in unchallenged, as sipctl's warning on such
    a trunk says (sipctl/config/lint.py)."""
    port = inbound_sandbox.sip_port
    assert port
    await lk.sip.create_inbound_trunk(
        CreateSIPInboundTrunkRequest(trunk=SIPInboundTrunkInfo(name="pw", auth_password="p"))
    )
    _, lines = await asyncio.to_thread(invite, port, "+15550700004")
    assert lines == ["SIP/2.0 100 Processing", "SIP/2.0 180 Ringing"]  # no 407; no rule
