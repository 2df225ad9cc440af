"""A small test-only SIP caller (UDP, loopback): send an INVITE, watch the answers, end it.

Just enough of RFC 3261 to place inbound calls into the sandbox for the route comparison:
INVITE with an SDP offer, CANCEL while it rings, ACK + BYE after a 2xx, ACK after a
non-2xx final answer; no retransmissions (loopback does not lose datagrams). Not product
code: sipctl never imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass, field


def _token() -> str:
    return secrets.token_hex(6)


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, list[str]]
    body: str

    def header(self, name: str) -> str:
        values = self.headers.get(name.lower(), [])
        return values[0] if values else ""


def parse_response(data: bytes) -> Response | None:
    text = data.decode("utf-8", "replace")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    if not lines or not lines[0].startswith("SIP/2.0 "):
        return None
    parts = lines[0].split(" ", 2)
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return Response(int(parts[1]), parts[2] if len(parts) > 2 else "", headers, body)


@dataclass
class Dialog:
    """One call: what it sent and every response it got."""

    call_id: str
    to: str
    from_: str
    branch: str
    from_tag: str
    responses: list[Response] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    to_tag: str = ""
    requests: list[str] = field(default_factory=list)  # methods the far end sent (BYE)

    @property
    def codes(self) -> list[int]:
        return [r.status for r in self.responses]

    @property
    def final(self) -> Response | None:
        return next(
            (r for r in self.responses if r.status >= 200 and "INVITE" in r.header("cseq")), None
        )


class Caller(asyncio.DatagramProtocol):
    """One UDP socket on ``local_ip`` sending calls to ``target``."""

    def __init__(self, local_ip: str, target: tuple[str, int]) -> None:
        self.local_ip = local_ip
        self.target = target
        self.port = 0
        self.transport: asyncio.DatagramTransport | None = None
        self.dialogs: dict[str, Dialog] = {}

    @classmethod
    async def open(cls, local_ip: str, target: tuple[str, int]) -> Caller:
        loop = asyncio.get_running_loop()
        proto = cls(local_ip, target)
        transport, _ = await loop.create_datagram_endpoint(lambda: proto, local_addr=(local_ip, 0))
        proto.transport = transport
        proto.port = transport.get_extra_info("sockname")[1]
        return proto

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        resp = parse_response(data)
        if resp is None:
            self._answer_request(data, addr)
            return
        dialog = self.dialogs.get(resp.header("call-id"))
        if dialog is None:
            return
        dialog.responses.append(resp)
        if not dialog.to_tag and "tag=" in resp.header("to"):
            dialog.to_tag = resp.header("to").split("tag=", 1)[1].split(";")[0]
        if resp.status >= 200 and "INVITE" in resp.header("cseq"):
            self._send(self._ack(dialog, resp))
        dialog.changed.set()

    def _answer_request(self, data: bytes, addr: tuple[str, int]) -> None:
        # A BYE (or anything else) from the far end: 200 OK, echoing the transaction.
        text = data.decode("utf-8", "replace")
        head = text.split("\r\n\r\n", 1)[0].split("\r\n")
        if not head or head[0].startswith("ACK "):
            return
        keep = [
            line
            for line in head[1:]
            if line.split(":", 1)[0].strip().lower() in ("via", "from", "to", "call-id", "cseq")
        ]
        msg = "SIP/2.0 200 OK\r\n" + "\r\n".join(keep) + "\r\nContent-Length: 0\r\n\r\n"
        if self.transport is not None:
            self.transport.sendto(msg.encode(), addr)
        call_id = next(
            (line.split(":", 1)[1].strip() for line in keep if line.lower().startswith("call-id")),
            "",
        )
        dialog = self.dialogs.get(call_id)
        if dialog is not None:
            dialog.requests.append(head[0].split(" ", 1)[0])
            dialog.changed.set()

    def _send(self, msg: str) -> None:
        assert self.transport is not None
        self.transport.sendto(msg.encode(), self.target)

    def _headers(self, d: Dialog, method: str, cseq: int, branch: str, to_tag: str = "") -> str:
        host, port = self.target
        to_hdr = f"<sip:{d.to}@{host}:{port}>" + (f";tag={to_tag}" if to_tag else "")
        return (
            f"Via: SIP/2.0/UDP {self.local_ip}:{self.port};branch={branch};rport\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:{d.from_}@{self.local_ip}>;tag={d.from_tag}\r\n"
            f"To: {to_hdr}\r\n"
            f"Call-ID: {d.call_id}\r\n"
            f"CSeq: {cseq} {method}\r\n"
            f"Contact: <sip:{d.from_}@{self.local_ip}:{self.port}>\r\n"
        )

    def _ack(self, d: Dialog, resp: Response) -> str:
        host, port = self.target
        # ACK for a non-2xx answer is part of the INVITE transaction (same branch).
        branch = d.branch if resp.status >= 300 else "z9hG4bK" + _token()
        tag = (
            resp.header("to").split("tag=", 1)[1].split(";")[0]
            if "tag=" in resp.header("to")
            else ""
        )
        return (
            f"ACK sip:{d.to}@{host}:{port} SIP/2.0\r\n"
            + self._headers(d, "ACK", 1, branch, tag)
            + "Content-Length: 0\r\n\r\n"
        )

    def invite(self, to: str, from_: str) -> Dialog:
        d = Dialog("rt-" + _token(), to, from_, "z9hG4bK" + _token(), _token())
        self.dialogs[d.call_id] = d
        host, port = self.target
        sdp = (
            "v=0\r\n"
            f"o=- 1 1 IN IP4 {self.local_ip}\r\n"
            "s=-\r\n"
            f"c=IN IP4 {self.local_ip}\r\n"
            "t=0 0\r\n"
            "m=audio 40000 RTP/AVP 0 101\r\n"
            "a=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\n"
            "a=fmtp:101 0-16\r\n"
            "a=sendrecv\r\n"
        )
        self._send(
            f"INVITE sip:{to}@{host}:{port} SIP/2.0\r\n"
            + self._headers(d, "INVITE", 1, d.branch)
            + "Content-Type: application/sdp\r\n"
            + f"Content-Length: {len(sdp)}\r\n\r\n"
            + sdp
        )
        return d

    def cancel(self, d: Dialog) -> None:
        host, port = self.target
        self._send(
            f"CANCEL sip:{d.to}@{host}:{port} SIP/2.0\r\n"
            + self._headers(d, "CANCEL", 1, d.branch)
            + "Content-Length: 0\r\n\r\n"
        )

    def bye(self, d: Dialog) -> None:
        host, port = self.target
        self._send(
            f"BYE sip:{d.to}@{host}:{port} SIP/2.0\r\n"
            + self._headers(d, "BYE", 2, "z9hG4bK" + _token(), d.to_tag)
            + "Content-Length: 0\r\n\r\n"
        )

    async def hang_up(self, d: Dialog) -> None:
        """End the call whatever state it is in."""
        final = d.final
        if final is None:
            self.cancel(d)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_until(d, lambda: d.final is not None), 1.0)
        elif 200 <= final.status < 300:
            self.bye(d)


def rtp_target(answer: Response) -> tuple[str, int] | None:
    """The address and port of the audio in an SDP answer."""
    host, port = "", 0
    for line in answer.body.splitlines():
        if line.startswith("c=IN IP4 "):
            host = line.split()[-1]
        elif line.startswith("m=audio "):
            port = int(line.split()[1])
    return (host, port) if host and port else None


async def send_dtmf(local_ip: str, target: tuple[str, int], digits: str) -> None:
    """RFC 4733 telephone-events (payload type 101, as offered), one event per digit."""
    import struct

    codes = {**{str(i): i for i in range(10)}, "*": 10, "#": 11}
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=(local_ip, 0)
    )
    ssrc, seq, ts = secrets.randbits(32), secrets.randbits(15), secrets.randbits(31)
    try:
        for digit in digits:
            for i, (end, duration) in enumerate(
                [(False, 160), (False, 320), (False, 480), (True, 640), (True, 640), (True, 640)]
            ):
                header = struct.pack(
                    "!BBHII", 0x80, (0x80 if i == 0 else 0) | 101, seq & 0xFFFF, ts, ssrc
                )
                payload = struct.pack("!BBH", codes[digit], (0x80 if end else 0) | 10, duration)
                transport.sendto(header + payload, target)
                seq += 1
                await asyncio.sleep(0.02)
            ts += 800
            await asyncio.sleep(0.05)
    finally:
        transport.close()


async def _until(d: Dialog, cond: object) -> None:
    assert callable(cond)
    while not cond():
        d.changed.clear()
        await d.changed.wait()
