"""Call (UAC) edge cases against a scripted far end: re-ACK, 2xx racing CANCEL, garbage."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator

import pytest

from sipctl.sandbox.sip.message import Address, Request, Response, SipURI, parse_message
from sipctl.sandbox.sip.transaction import Timers, response_for
from sipctl.sandbox.sip.uac import Call, CallCanceled, CallProtocolError, CallSpec, MediaError

LOG = logging.getLogger("test.uac")
SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 9 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
)


class Uas:
    """A scripted far end on one UDP socket."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]

    async def recv(self, timeout: float = 2.0) -> tuple[Request | Response, tuple[str, int]]:
        loop = asyncio.get_running_loop()
        data, src = await asyncio.wait_for(loop.sock_recvfrom(self.sock, 65535), timeout)
        return parse_message(data), src

    async def recv_request(self, method: str) -> tuple[Request, tuple[str, int]]:
        while True:
            msg, src = await self.recv()
            if isinstance(msg, Request) and msg.method == method:
                return msg, src

    def send(self, msg: Request | Response, dest: tuple[str, int]) -> None:
        self.sock.sendto(msg.serialize(), dest)

    def ok(self, req: Request, *, tag: bool = True, body: bytes = SDP) -> Response:
        resp = response_for(req, 200, "OK", "uas1" if tag else None)
        resp.headers.add("Contact", f"<sip:uas@127.0.0.1:{self.port}>")
        resp.headers.add("Content-Type", "application/sdp")
        resp.body = body
        return resp


@pytest.fixture
async def uas() -> AsyncIterator[Uas]:
    u = Uas()
    yield u
    u.sock.close()


def call_to(uas: Uas) -> Call:
    uri = SipURI.parse(f"sip:+15550100001@127.0.0.1:{uas.port}")
    spec = CallSpec(
        request_uri=uri,
        to=Address(uri),
        from_=Address(SipURI.parse("sip:+15557770000@127.0.0.1")),
        local_tag="SCL_t",
        call_id="uac-test",
        transport="udp",
        dest=("127.0.0.1", uas.port),
    )
    return Call(spec, LOG, Timers(t1=0.05))


async def test_retransmitted_2xx_is_reacked_and_remote_bye_answered(uas: Uas) -> None:
    call = call_to(uas)
    task = asyncio.create_task(call.invite(timeout=3))
    inv, src = await uas.recv_request("INVITE")
    # outbound.go attemptInvite: no User-Agent on the INVITE (only the BYE has one)
    assert inv.from_.tag == "SCL_t" and inv.headers.get("User-Agent") is None
    assert inv.headers.get("Content-Type") == "application/sdp" and b"m=audio" in inv.body
    ok = uas.ok(inv)
    uas.send(ok, src)
    ack1, _ = await uas.recv_request("ACK")
    assert (await task).status == 200
    uas.send(ok, src)  # our ACK "got lost": the 2xx comes again
    ack2, _ = await uas.recv_request("ACK")
    assert ack1.serialize() == ack2.serialize()
    assert str(ack1.uri) == f"sip:uas@127.0.0.1:{uas.port}" and ack1.cseq.number == inv.cseq.number
    bye = Request(method="BYE", uri=SipURI.parse("sip:127.0.0.1"))
    bye.headers.add("Via", f"SIP/2.0/UDP 127.0.0.1:{uas.port};branch=z9hG4bKbye1")
    bye.headers.add("From", str(ok.to))
    bye.headers.add("To", str(inv.from_))
    bye.headers.add("Call-ID", "uac-test")
    bye.headers.add("CSeq", "1 BYE")
    uas.send(bye, src)
    resp, _ = await uas.recv()
    assert isinstance(resp, Response) and resp.status == 200 and resp.cseq.method == "BYE"
    await asyncio.wait_for(call.remote_bye.wait(), 1)
    assert call.end_reason == "remote-bye"
    await call.aclose()


async def test_2xx_racing_cancel_is_acked_then_byed(uas: Uas) -> None:
    call = call_to(uas)
    task = asyncio.create_task(call.invite(timeout=0.3))
    inv, src = await uas.recv_request("INVITE")
    uas.send(response_for(inv, 180, "Ringing", "uas1"), src)
    with pytest.raises(CallCanceled):
        await task
    cancel, _ = await uas.recv_request("CANCEL")
    assert cancel.top_via.branch == inv.top_via.branch and cancel.cseq.method == "CANCEL"
    uas.send(response_for(cancel, 200, "OK", "uas1"), src)
    uas.send(uas.ok(inv), src)  # the callee picked up just before the CANCEL arrived
    await uas.recv_request("ACK")
    bye, _ = await uas.recv_request("BYE")
    uas.send(response_for(bye, 200, "OK"), src)
    await call.aclose()
    assert call.end_reason == "local-bye"


async def test_2xx_without_to_tag_is_a_clear_failure(uas: Uas) -> None:
    call = call_to(uas)
    task = asyncio.create_task(call.invite(timeout=3))
    inv, src = await uas.recv_request("INVITE")
    uas.send(uas.ok(inv, tag=False), src)
    # ... and it is hung up with a BYE, as LiveKit's bridge does (issue #14 item 9)
    await uas.recv_request("ACK")
    bye, _ = await uas.recv_request("BYE")
    uas.send(response_for(bye, 200, "OK"), src)
    with pytest.raises(CallProtocolError, match="no tag in To header in INVITE response"):
        await task
    await call.aclose()


async def test_unusable_sdp_answer_is_media_error_after_ack(uas: Uas) -> None:
    call = call_to(uas)
    task = asyncio.create_task(call.invite(timeout=3))
    inv, src = await uas.recv_request("INVITE")
    uas.send(uas.ok(inv, body=b"v=0\r\nm=video 9 RTP/AVP 96\r\n"), src)
    await uas.recv_request("ACK")
    with pytest.raises(MediaError, match="no audio"):
        await task
    assert call.dialog is not None  # the dialog exists: the owner must BYE it
    bye_task = asyncio.create_task(call.bye(timeout=1))
    bye, _ = await uas.recv_request("BYE")
    uas.send(response_for(bye, 200, "OK"), src)
    resp = await bye_task
    assert resp is not None and resp.status == 200
    await call.aclose()
