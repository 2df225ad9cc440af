"""Client transactions (RFC 3261 §17.1) against a scripted peer socket, with scaled timers."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable

import pytest

from sipctl.sandbox.sip.message import Headers, Request, Response, SipURI, parse_message
from sipctl.sandbox.sip.transaction import (
    NonInviteClientTransaction,
    Timers,
    TransactionLayer,
    TransactionTimeout,
    response_for,
)
from sipctl.sandbox.sip.transport import open_transport

LOG = logging.getLogger("test.sip")
FAST = Timers(t1=0.02, t2=0.08, t4=0.1)  # Timer B/F = 1.28 s


class Peer:
    """The far end: a plain UDP socket that records what it receives."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.addr: tuple[str, int] = self.sock.getsockname()
        self.got: list[tuple[float, Request | Response, tuple[str, int]]] = []

    async def recv(self, timeout: float = 2.0) -> tuple[Request | Response, tuple[str, int]]:
        loop = asyncio.get_running_loop()
        data, src = await asyncio.wait_for(loop.sock_recvfrom(self.sock, 65535), timeout)
        msg = parse_message(data)
        self.got.append((time.monotonic(), msg, src))
        return msg, src

    async def drain(self, seconds: float) -> list[Request | Response]:
        out: list[Request | Response] = []
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                out.append((await self.recv(left))[0])
            except TimeoutError:
                break
        return out

    def send(self, msg: Response | Request, dest: tuple[str, int]) -> None:
        self.sock.sendto(msg.serialize(), dest)


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    p = Peer()
    yield p
    p.sock.close()


async def layer_for(peer: Peer, kind: str = "udp") -> TransactionLayer:
    transport = await open_transport(kind, peer.addr, LOG, "127.0.0.1")
    return TransactionLayer(transport, LOG, FAST)


def invite(layer: TransactionLayer, method: str = "INVITE") -> Request:
    h = Headers()
    h.add("Via", str(layer.via()))
    h.add("From", "<sip:alice@127.0.0.1>;tag=a1")
    h.add("To", "<sip:bob@127.0.0.1>")
    h.add("Call-ID", "call-1")
    h.add("CSeq", f"1 {method}")
    h.add("Max-Forwards", "70")
    return Request(headers=h, method=method, uri=SipURI.parse("sip:bob@127.0.0.1"))


async def test_timer_a_doubles_then_timer_b_times_out(peer: Peer) -> None:
    layer = await layer_for(peer)
    receiving = asyncio.create_task(peer.drain(FAST.b + 0.3))  # timestamps as they arrive
    sent_after = time.monotonic()  # the INVITE leaves no earlier than this
    tx = layer.start_invite(invite(layer), peer.addr)
    t0 = time.monotonic()
    with pytest.raises(TransactionTimeout) as info:
        # wait_for only guards against a hang; Timer B itself must end the transaction
        await asyncio.wait_for(tx.final_response(), FAST.b + 10)
    elapsed = time.monotonic() - t0
    assert info.value.responses == 0
    assert elapsed > FAST.b - 0.05
    got = await receiving
    times = [t for t, _, _ in peer.got]
    assert len(got) >= 6  # 0, T1, 3T1, 7T1, 15T1, 31T1, 63T1
    # doubling, checked by lower bounds only (a loaded machine only delays): the k-th
    # retransmission is not before (2^k - 1)·T1 (RFC 3261 §17.1.1.2; T2 does not cap
    # INVITE retransmissions); a constant interval (T1 or 2·T1) fails by k = 3. Measured
    # from before the first send, not from the first arrival: the peer reads on the same
    # loop, and a first datagram read late (the loop busy) shortened every interval.
    for k in range(1, 5):
        assert times[k] - sent_after >= (2**k - 1) * FAST.t1 * 0.9, (k, sent_after, times)
    assert all(isinstance(m, Request) and m.method == "INVITE" for _, m, _ in peer.got)
    layer.close()


async def test_provisional_stops_retransmission_and_timer_b(peer: Peer) -> None:
    layer = await layer_for(peer)
    tx = layer.start_invite(invite(layer), peer.addr)
    req, src = await peer.recv()
    assert isinstance(req, Request)
    peer.send(response_for(req, 180, "Ringing", "b1"), src)
    assert (await tx.next_response()).status == 180
    assert await peer.drain(FAST.b + 0.2) == []  # no retransmission, no timeout
    assert not tx.terminated.is_set()
    peer.send(response_for(req, 486, "Busy Here", "b1"), src)
    assert (await tx.final_response()).status == 486
    layer.close()


async def test_non_2xx_final_is_acked_on_the_same_branch_and_reacked(peer: Peer) -> None:
    layer = await layer_for(peer)
    inv = invite(layer)
    tx = layer.start_invite(inv, peer.addr)
    req, src = await peer.recv()
    assert isinstance(req, Request)
    busy = response_for(req, 486, "Busy Here", "b1")
    peer.send(busy, src)
    assert (await tx.final_response()).status == 486
    ack, _ = await peer.recv()
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert ack.top_via.branch == inv.top_via.branch
    assert ack.cseq.number == 1 and ack.cseq.method == "ACK"
    assert ack.to.tag == "b1" and str(ack.uri) == str(inv.uri)
    peer.send(busy, src)  # retransmitted final: ACK again, TU not bothered
    ack2, _ = await peer.recv()
    assert isinstance(ack2, Request) and ack2.method == "ACK"
    assert tx.responses.empty()
    layer.close()


async def test_retransmitted_2xx_goes_to_on_2xx(peer: Peer) -> None:
    layer = await layer_for(peer)
    tx = layer.start_invite(invite(layer), peer.addr)
    req, src = await peer.recv()
    assert isinstance(req, Request)
    ok = response_for(req, 200, "OK", "b1")
    seen: list[int] = []
    tx.on_2xx = lambda r: seen.append(r.status)
    peer.send(ok, src)
    assert (await tx.final_response()).status == 200
    peer.send(ok, src)
    await asyncio.sleep(0.05)
    assert seen == [200]
    assert await peer.drain(0.1) == []  # the transaction never ACKs a 2xx itself
    layer.close()


async def test_non_invite_timer_e_caps_at_t2_then_timer_f(
    peer: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The intervals Timer E schedules, not wall-clock gaps: a loaded machine fires timers
    # late, but the schedule itself (T1, 2T1, 4T1, then T2 until Timer F) is exact.
    scheduled: list[float] = []
    original = NonInviteClientTransaction._later

    def record(self: NonInviteClientTransaction, delay: float, fn: Callable[[], None]) -> None:
        if delay != FAST.f:
            scheduled.append(delay)
        original(self, delay, fn)

    monkeypatch.setattr(NonInviteClientTransaction, "_later", record)
    layer = await layer_for(peer)
    receiving = asyncio.create_task(peer.drain(FAST.f + 0.3))
    tx = layer.start_request(invite(layer, "BYE"), peer.addr)
    with pytest.raises(TransactionTimeout):
        await tx.final_response()
    await receiving
    assert len(peer.got) >= 4  # the first send and retransmissions reached the peer
    assert scheduled[:4] == [FAST.t1, FAST.t1 * 2, FAST.t1 * 4, FAST.t2]
    assert set(scheduled[3:]) == {FAST.t2}  # capped at T2 until Timer F ends it
    layer.close()


async def test_non_invite_final_completes(peer: Peer) -> None:
    layer = await layer_for(peer)
    tx = layer.start_request(invite(layer, "CANCEL"), peer.addr)
    req, src = await peer.recv()
    assert isinstance(req, Request)
    peer.send(response_for(req, 200, "OK", "b1"), src)
    assert (await tx.final_response()).status == 200
    layer.close()


async def test_tcp_has_no_retransmissions() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.setblocking(False)
    loop = asyncio.get_running_loop()
    transport = await open_transport("tcp", server.getsockname(), LOG, "127.0.0.1")
    layer = TransactionLayer(transport, LOG, FAST)
    conn, _ = await loop.sock_accept(server)
    tx = layer.start_invite(invite(layer), server.getsockname())
    await asyncio.sleep(0.3)
    data = await asyncio.wait_for(loop.sock_recv(conn, 65535), 1)
    assert data.count(b"INVITE sip:") == 1
    assert b"SIP/2.0/TCP" in data
    req = parse_message(data)
    assert isinstance(req, Request)
    await loop.sock_sendall(conn, response_for(req, 404, "Not Found", "t").serialize())
    assert (await tx.final_response()).status == 404
    ack = await asyncio.wait_for(loop.sock_recv(conn, 65535), 1)
    assert ack.startswith(b"ACK sip:bob@127.0.0.1 SIP/2.0")
    conn.close()
    await asyncio.sleep(0.05)
    tx2 = layer.start_request(invite(layer, "BYE"), server.getsockname())
    with pytest.raises(OSError):
        await tx2.final_response()
    layer.close()
    server.close()


async def test_incoming_request_answer_is_cached_for_retransmissions(peer: Peer) -> None:
    layer = await layer_for(peer)
    calls: list[str] = []

    def handler(req: Request, src: tuple[str, int]) -> Response | None:
        calls.append(req.method)
        return response_for(req, 200, "OK") if req.method == "BYE" else None

    layer.on_request = handler
    bye = invite(layer, "BYE")
    bye.headers.set("Via", "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKpeer1")
    peer.send(bye, layer.transport.local)
    peer.send(bye, layer.transport.local)
    r1, _ = await peer.recv()
    r2, _ = await peer.recv()
    assert isinstance(r1, Response) and isinstance(r2, Response)
    assert (r1.status, r2.status) == (200, 200)
    assert calls == ["BYE"]
    info = invite(layer, "INFO")
    info.headers.set("Via", "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKpeer2")
    peer.send(info, layer.transport.local)
    r3, _ = await peer.recv()
    assert isinstance(r3, Response) and r3.status == 481
    layer.close()


async def test_garbage_from_the_network_is_dropped(
    peer: Peer, caplog: pytest.LogCaptureFixture
) -> None:
    layer = await layer_for(peer)
    tx = layer.start_invite(invite(layer), peer.addr)
    req, src = await peer.recv()
    assert isinstance(req, Request)
    with caplog.at_level(logging.WARNING):
        peer.sock.sendto(b"SIP/2.0 200 OK\r\nthis is not a header\r\n\r\n", src)
        peer.sock.sendto(b"\x00\x01binary junk", src)
        peer.send(response_for(req, 603, "Decline", "b1"), src)
        assert (await tx.final_response()).status == 603
    assert sum("dropped" in r.message for r in caplog.records) == 2
    layer.close()
