"""Inbound SIP: the sandbox answers INVITEs as LiveKit's SIP bridge does.

Started only with ``sipctl sandbox --sip-port PORT`` (UDP and TCP on the same port).
Follows livekit/sip ``pkg/sip/inbound.go``:

* ``newInbound``: an INVITE without Call-ID, From tag or To gets 400 "Bad request" with
  Allow; the dialog's To tag is a new ``SCL_`` call ID (also ``sip.callID``), kept for a
  retry of the same Call-ID and From tag (``provisionalInvites``);
* ``processInvite``: 100 "Processing"; the trunk for the call (GetSIPTrunkAuthentication,
  see :mod:`sipctl.sandbox.dispatch`); a conflict answers 503 "Try again later"; a trunk
  with a username and password is checked by ``handleInviteAuth``: 407 "Unauthorized"
  with a Proxy-Authenticate digest challenge (realm: the trunk's ``auth_realm`` or
  "LiveKit"), 401 "Unauthorized" for a wrong user or response, 401 "Bad credentials"
  for unparsable credentials or no challenge;
* ``handleInvite``: 180 "Ringing"; the dispatch (EvaluateSIPDispatchRules): DROP is a
  silent drop (no final response, as LiveKit's server answers when no rule matches),
  an evaluation error 503 "Try again later", an unusable SDP offer 400; REQUEST_PIN
  answers, reads DTMF up to ``#`` and dispatches again (a wrong PIN hangs up); ACCEPT
  joins the room (created with the rule's ``room_config``, agents dispatched) as a SIP
  participant with ``sip.callStatus=ringing`` and keeps ringing until someone subscribes
  (``waitSubscribe``): the ringing timeout answers 486 "Rejected", a CANCEL 487
  "Request Terminated" (status ``hangup``); once subscribed, 200 OK with the SDP answer,
  RTP, ``active``; a BYE from the caller ends it (``hangup``), so do RemoveParticipant
  (BYE), the media timeout and ``max_call_duration``.

Audio hook (as the outbound bridge's): ``InboundServer.on_call_answered`` gets the
:class:`Dialog` once the 200 OK is out (``d.rtp`` is the call's RTP endpoint, with the
same ``on_audio``/``audio_source`` hooks), ``on_call_ended`` when it ends.

Who subscribes: the sandbox's real-time side (``sipctl.sandbox.rtc``) calls
:meth:`InboundServer.subscribed`; tests can do the same with ``POST /_sandbox/subscribe``
(``{"room": ..., "identity": ...}``), standing in for an agent that joins and listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from livekit.protocol.sip import SIPDispatchRuleInfo, SIPInboundTrunkInfo

from sipctl.sandbox.bridge import ATTR_CALL_ID_FULL, ATTR_CALL_TAG, ATTR_STATUS, headers_to_attrs
from sipctl.sandbox.dispatch import Decision, InboundCall, RoutingError, match_trunk, route
from sipctl.sandbox.media import DEFAULT_MEDIA_TIMEOUT, DEFAULT_MEDIA_TIMEOUT_INITIAL, merge
from sipctl.sandbox.rooms import Participant, RoomRegistry, new_id, sip_participant
from sipctl.sandbox.sip.digest import Challenge, DigestError, compute_response, parse_auth_params
from sipctl.sandbox.sip.message import (
    Address,
    Headers,
    Message,
    Request,
    Response,
    SipParseError,
    StreamParser,
    parse_message,
)
from sipctl.sandbox.sip.rtp import RtpSession
from sipctl.sandbox.sip.sdp import SdpError, parse_answer
from sipctl.sandbox.sip.transaction import new_branch, response_for

Addr = tuple[str, int]
USER_AGENT = "LiveKit"  # livekit/sip pkg/sip/server.go UserAgent (also the default realm)
ALLOW = "INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE"
DEFAULT_RINGING_TIMEOUT = 180.0  # participant.go defaultRingingTimeout
MAX_CALL_DURATION = 24 * 3600.0  # participant.go maxCallDuration
AUDIO_BRIDGE_MAX_DELAY = 1.0  # inbound.go audioBridgeMaxDelay (waitMedia)
ACK_WAIT = 32.0  # how long a 200 OK is retransmitted without ACK (Timer H)
PIN_LIMIT = 16  # inbound.go pinPrompt pinLimit


# --- transport -----------------------------------------------------------------------
class Peer:
    """Where a request came from, and how to answer it (the same socket or connection)."""

    def __init__(self, transport: str, addr: Addr, send: Callable[[bytes], None]) -> None:
        self.transport = transport  # "udp" or "tcp"
        self.addr = addr
        self._send = send

    def send(self, msg: Message) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            self._send(msg.serialize())


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: InboundServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if not data.strip():
            return  # keep-alive
        try:
            msg = parse_message(data)
        except SipParseError as exc:
            self.server.log.debug("inbound SIP: bad datagram from %s: %s", addr, exc)
            return
        dt = self.transport
        peer_addr = (str(addr[0]), int(addr[1]))
        if dt is None:
            return
        self.server.receive(msg, Peer("udp", peer_addr, lambda b: dt.sendto(b, peer_addr)))


class _Tcp(asyncio.Protocol):
    def __init__(self, server: InboundServer) -> None:
        self.server = server
        self.parser = StreamParser()
        self.transport: asyncio.Transport | None = None
        self.peer: Peer | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        host, port = transport.get_extra_info("peername")[:2]
        self.peer = Peer("tcp", (str(host), int(port)), transport.write)

    def data_received(self, data: bytes) -> None:
        for item in self.parser.feed(data):
            if isinstance(item, SipParseError):
                self.server.log.debug("inbound SIP: bad TCP message: %s", item)
                continue
            if self.peer is not None:
                self.server.receive(item, self.peer)


# --- calls ---------------------------------------------------------------------------
@dataclass
class Dialog:
    """One inbound call (inbound.go inboundCall + sipInbound)."""

    call_id: str  # SCL_..., our To tag
    invite: Request
    peer: Peer
    from_tag: str
    sip_call_id: str
    branch: str
    last_response: Response | None = None
    ok: Response | None = None  # the 200 OK once accepted
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    remote_bye: asyncio.Event = field(default_factory=asyncio.Event)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)  # removed / closing
    rtp: RtpSession | None = None
    answer_sdp: bytes = b""
    room: str = ""
    participant: Participant | None = None
    status: str = ""
    decision: Decision | None = None
    final_sent: bool = False
    dtmf: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    cseq: int = 0
    ended_by: str = ""
    media_start: float = 0.0  # loop time the media timeout was armed
    media_general: float = DEFAULT_MEDIA_TIMEOUT


class InboundServer:
    """The sandbox's SIP listener for inbound calls."""

    def __init__(
        self,
        rooms: RoomRegistry,
        trunks: Callable[[], Sequence[SIPInboundTrunkInfo]],
        rules: Callable[[], Sequence[SIPDispatchRuleInfo]],
        logger: logging.Logger,
        *,
        host: str = "127.0.0.1",
        media_timeout: float = DEFAULT_MEDIA_TIMEOUT,
        media_timeout_initial: float = DEFAULT_MEDIA_TIMEOUT_INITIAL,
        on_room_created: Callable[[str, Decision], None] | None = None,
    ) -> None:
        self.rooms = rooms
        self.trunks = trunks
        self.rules = rules
        self.log = logger
        self.host = host
        self.port = 0
        self.media_timeout = media_timeout
        self.media_timeout_initial = media_timeout_initial
        self.on_room_created = on_room_created
        self.on_call_answered: Callable[[Dialog], None] | None = None
        self.on_call_ended: Callable[[Dialog], None] | None = None
        self.dialogs: dict[str, Dialog] = {}  # by SCL call ID
        self._by_branch: dict[str, Dialog] = {}
        self._provisional: dict[tuple[str, str], str] = {}  # (Call-ID, From tag) -> SCL
        self._challenges: dict[str, Challenge] = {}  # by SIP Call-ID
        self._pending: dict[str, asyncio.Future[Response]] = {}  # our requests by branch
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ------------------------------------------------------------------
    async def start(self, port: int) -> int:
        loop = asyncio.get_running_loop()
        for _ in range(20):
            tcp = await loop.create_server(lambda: _Tcp(self), self.host, port, reuse_address=True)
            bound = int(tcp.sockets[0].getsockname()[1])
            try:
                udp, _ = await loop.create_datagram_endpoint(
                    lambda: _Udp(self), local_addr=(self.host, bound)
                )
            except OSError:
                tcp.close()
                if port:
                    raise
                continue  # port 0: the UDP side of that port was taken, try another
            self._tcp, self._udp, self.port = tcp, udp, bound
            return bound
        raise OSError("no free port for SIP (UDP and TCP)")

    async def close(self) -> None:
        for d in list(self.dialogs.values()):
            d.ended_by = d.ended_by or "shutdown"
            d.stop.set()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=5)
            for t in pending:
                t.cancel()
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tcp.wait_closed(), 2)

    def subscribed(self, room: str, identity: str) -> bool:
        """Someone in the room subscribed to the SIP participant's track: answer the call."""
        for d in self.dialogs.values():
            p = d.participant
            if d.room == room and p is not None and p.identity == identity:
                d.subscribed.set()
                return True
        return False

    def active_calls(self) -> list[dict[str, object]]:
        return [
            {
                "sip_call_id": d.call_id,
                "room": d.room,
                "identity": d.participant.identity if d.participant else "",
                "status": d.status,
                "sip_call_id_full": d.sip_call_id,
            }
            for d in self.dialogs.values()
        ]

    # -- receive --------------------------------------------------------------------
    def receive(self, msg: Request | Response, peer: Peer) -> None:
        if isinstance(msg, Response):
            try:
                branch = msg.top_via.branch or ""
            except SipParseError:
                return
            fut = self._pending.get(branch)
            if fut is not None and not fut.done() and msg.status >= 200:
                fut.set_result(msg)
            return
        method = msg.method
        try:
            branch = msg.top_via.branch or ""
        except SipParseError:
            return
        if method == "INVITE":
            known = self._by_branch.get(branch)
            if known is not None:
                if known.last_response is not None:  # a retransmission
                    known.peer.send(known.last_response)
                return
            to_tag = _tag(msg, "To")
            if to_tag and to_tag in self.dialogs:
                self._reinvite(self.dialogs[to_tag], msg, peer)
                return
            self._spawn(self._process_invite(msg, peer, branch))
        elif method == "ACK":
            d = self.dialogs.get(_tag(msg, "To") or "")
            if d is not None:
                d.acked.set()
        elif method == "CANCEL":
            d = self._by_branch.get(branch)
            if d is None:
                peer.send(response_for(msg, 481, "Call/Transaction Does Not Exist"))
                return
            peer.send(response_for(msg, 200, "OK", d.call_id))
            d.cancelled.set()
        elif method == "BYE":
            d = self.dialogs.get(_tag(msg, "To") or "")
            if d is None or d.ok is None:
                peer.send(response_for(msg, 481, "Call does not exist"))
                return
            peer.send(response_for(msg, 200, "OK"))
            d.remote_bye.set()
        elif method == "OPTIONS":
            peer.send(response_for(msg, 200, "OK"))
        else:
            resp = response_for(msg, 405, "Method Not Allowed")
            resp.headers.add("Allow", ALLOW)
            peer.send(resp)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _reinvite(self, d: Dialog, msg: Request, peer: Peer) -> None:
        # processInvite: a re-INVITE of a known dialog is answered with our SDP (keep-alive)
        resp = self._response(msg, d, 200, "OK", d.answer_sdp)
        peer.send(resp)

    # -- responses ------------------------------------------------------------------
    def _response(
        self, req: Request, d: Dialog | None, status: int, reason: str, sdp: bytes = b""
    ) -> Response:
        resp = response_for(req, status, reason, d.call_id if d else None)
        if 200 <= status < 300 or status in (180, 183):
            resp.headers.add(
                "Contact",
                f"<sip:{self.host}:{self.port};transport={d.peer.transport if d else 'udp'}>",
            )
        if 200 <= status < 300:
            resp.headers.add("Allow", ALLOW)
        resp.headers.add("Server", USER_AGENT)
        if sdp:
            resp.headers.add("Content-Type", "application/sdp")
            resp.body = sdp
        return resp

    def _respond(self, d: Dialog, status: int, reason: str, sdp: bytes = b"") -> Response:
        resp = self._response(d.invite, d, status, reason, sdp)
        d.last_response = resp
        if status >= 200:
            d.final_sent = True
        d.peer.send(resp)
        return resp

    # -- the INVITE -----------------------------------------------------------------
    async def _process_invite(self, req: Request, peer: Peer, branch: str) -> None:
        try:
            sip_call_id = req.call_id
            from_addr = req.from_
            to_addr = req.to
            from_tag = from_addr.tag or ""
            if not sip_call_id or not from_tag:
                raise SipParseError("no Call-ID or From tag")
        except SipParseError as exc:
            # processInvite: newInbound failed -> 400 "Bad request" with Allow
            self.log.info("inbound SIP: invalid invite from %s: %s", peer.addr, exc)
            resp = response_for(req, 400, "Bad request")
            resp.headers.add("Allow", ALLOW)
            peer.send(resp)
            return
        key = (sip_call_id, from_tag)
        scl = self._provisional.pop(key, "") or new_id("SCL_")
        d = Dialog(
            call_id=scl,
            invite=req,
            peer=peer,
            from_tag=from_tag,
            sip_call_id=sip_call_id,
            branch=branch,
        )
        self._by_branch[branch] = d
        try:
            await self._invite(d, from_addr, to_addr, key)
        except Exception:
            self.log.exception("inbound SIP call %s crashed", scl)
            if not d.final_sent and d.ok is None:
                self._respond(d, 500, "Internal Server Error")
        finally:
            await self._finish(d)

    async def _invite(
        self, d: Dialog, from_addr: Address, to_addr: Address, key: tuple[str, str]
    ) -> None:
        self._respond(d, 100, "Processing")
        call = InboundCall(
            to_user=to_addr.uri.user or "",
            from_user=from_addr.uri.user or "",
            from_host=from_addr.uri.host,
            to_host=to_addr.uri.host,
            source_ip=d.peer.addr[0],
            call_id=d.call_id,
        )
        self.log.info(
            "inbound SIP call %s: INVITE to=%s from=%s src=%s (%s)",
            d.call_id,
            call.to_user,
            call.from_user,
            call.source_ip,
            d.peer.transport,
        )
        trunks, rules = list(self.trunks()), list(self.rules())
        # GetSIPTrunkAuthentication (ioservice_sip.go): which trunk, and its credentials
        try:
            trunk = match_trunk(trunks, call)
        except RoutingError as err:
            self.log.info("inbound SIP call %s: auth check failed: %s", d.call_id, err.msg)
            self._respond(d, 503, "Try again later")
            return
        has_auth = trunk is not None and trunk.auth_username and trunk.auth_password
        if trunk is not None and has_auth and not self._check_auth(d, trunk):
            self._provisional[key] = d.call_id  # the retry keeps this SCL call ID
            return
        self._respond(d, 180, "Ringing")
        try:
            decision = route(trunks, rules, call)
        except RoutingError as err:
            self.log.info("inbound SIP call %s: dispatch failed: %s", d.call_id, err.msg)
            self._respond(d, 503, "Try again later")
            return
        d.decision = decision
        if decision.result == "drop":
            # the server answers DROP when no rule matches: no final response at all
            self.log.info("inbound SIP call %s: dropped (%s)", d.call_id, decision.reason)
            d.final_sent = True
            return
        media = merge(
            decision.trunk.media if decision.trunk and decision.trunk.HasField("media") else None,
            int(decision.trunk.media_encryption) if decision.trunk else 0,
            decision.rule.media if decision.rule and decision.rule.HasField("media") else None,
            int(decision.rule.media_encryption) if decision.rule else 0,
        )
        if not await self._prepare_media(d, media.encryption):
            return
        if decision.result == "request_pin":
            if not await self._accept(d, media.media_timeout):
                return
            pin_decision = await self._pin_prompt(d, trunks, rules, call)
            if pin_decision is None:
                return
            d.decision = decision = pin_decision
            self._join(d, decision, "active")
        else:
            self._join(d, decision, "ringing")
            if not await self._wait_subscribe(d, decision.trunk):
                return
            if not await self._accept(d, media.media_timeout):
                return
        await self._wait_end(d, decision.trunk)

    def _check_auth(self, d: Dialog, trunk: SIPInboundTrunkInfo) -> bool:
        """inbound.go handleInviteAuth (407 challenge, then the digest check)."""
        req = d.invite
        realm = trunk.auth_realm or USER_AGENT
        value = req.headers.get("Proxy-Authorization")
        if value is None:
            ch = Challenge(realm=realm, nonce=_nonce(d.sip_call_id), algorithm="MD5")
            self._challenges[d.sip_call_id] = ch
            resp = self._response(req, d, 407, "Unauthorized")
            resp.headers.add(
                "Proxy-Authenticate",
                f'Digest realm="{ch.realm}", nonce="{ch.nonce}", algorithm=MD5',
            )
            d.last_response = resp
            d.final_sent = True
            d.peer.send(resp)
            return False
        scheme, _, rest = value.strip().partition(" ")
        try:
            if scheme.lower() != "digest":
                raise DigestError("not digest")
            cred = parse_auth_params(rest)
            username, uri, response = cred["username"], cred["uri"], cred["response"]
        except (DigestError, KeyError):
            self._respond(d, 401, "Bad credentials")
            return False
        if username != trunk.auth_username:
            self._respond(d, 401, "Unauthorized")
            return False
        stored = self._challenges.get(d.sip_call_id)
        if stored is None:
            self._respond(d, 401, "Bad credentials")
            return False
        # digest.Digest with the stored challenge (no qop: RFC 2069 style)
        expected = compute_response(
            stored, method=req.method, uri=uri, username=username, password=trunk.auth_password
        ).response
        if response != expected:
            self._respond(d, 401, "Unauthorized")
            return False
        return True

    async def _prepare_media(self, d: Dialog, encryption: int = 0) -> bool:
        """runMedia: take the offer, open RTP, build the answer; a bad offer gets 400
        (media-sdk Offer.Answer: ErrNoCommonMedia, or ErrNoCommonCrypto when the trunk or
        rule requires encryption and the offer has no crypto)."""
        try:
            offer = parse_answer(d.invite.body)
            if encryption == 2 and not offer.crypto:
                raise SdpError("no common encryption profiles")
            if encryption != 0 and offer.crypto:
                # deviation: SDES would be answered, but the sandbox has no SRTP stack
                raise SdpError("SRTP media is not implemented by the sandbox")
        except SdpError as exc:
            self.log.info("inbound SIP call %s: cannot start media: %s", d.call_id, exc)
            self._respond(d, 400, "Bad Request")
            return False
        rtp = RtpSession(self.log)
        await rtp.open(self.host)
        rtp.on_dtmf = d.dtmf.put_nowait
        d.rtp = rtp
        rtp.payload_type = offer.payload_type
        rtp.dtmf_payload_type = offer.dtmf_payload_type
        rtp.remote = (offer.ip, offer.port)
        d.answer_sdp = _answer_sdp(
            self.host, rtp.local[1], offer.payload_type, offer.codec, offer.dtmf_payload_type
        )
        return True

    def _join(self, d: Dialog, decision: Decision, status: str) -> None:
        """createLiveKitParticipant: the room (with room_config) and the participant."""
        trunk = decision.trunk
        attrs = dict(decision.attributes)
        extra = headers_to_attrs(
            d.invite.headers,
            dict(trunk.headers_to_attributes) if trunk else {},
            int(trunk.include_headers) if trunk else 0,
        )
        attrs.update(extra)
        attrs[ATTR_CALL_TAG] = d.from_tag
        attrs[ATTR_CALL_ID_FULL] = d.sip_call_id
        attrs[ATTR_STATUS] = status
        d.status = status
        existed = decision.room_name in self.rooms.rooms
        if not existed and self.on_room_created is not None:
            self.on_room_created(decision.room_name, decision)
        if self.rooms.find(decision.room_name, decision.identity) is not None:
            # LiveKit kicks an older participant with the same identity
            self._spawn(self.rooms.remove_participant(decision.room_name, decision.identity))
        p = sip_participant(decision.identity, decision.name, decision.metadata, attrs)
        p.on_remove = lambda: self._on_remove(d)
        d.room = decision.room_name
        d.participant = p
        self.rooms.join(decision.room_name, p)
        self.dialogs[d.call_id] = d
        self.log.info(
            "inbound SIP call %s: joined room %s as %s (trunk %s, rule %s)",
            d.call_id,
            d.room,
            p.identity,
            trunk.sip_trunk_id if trunk else "-",
            decision.rule.sip_dispatch_rule_id if decision.rule else "-",
        )

    async def _on_remove(self, d: Dialog) -> None:
        d.ended_by = d.ended_by or "removed"
        d.stop.set()

    def _set_status(self, d: Dialog, status: str) -> None:
        d.status = status
        p = d.participant
        if p is not None and self.rooms.find(d.room, p.identity) is p:
            self.rooms.set_attributes(d.room, p.identity, {ATTR_STATUS: status})

    async def _first(self, d: Dialog, *events: asyncio.Event, timeout: float | None) -> str:
        names = {"cancel": d.cancelled, "bye": d.remote_bye, "stop": d.stop}
        named = [(n, e) for n, e in names.items()] + [(f"e{i}", e) for i, e in enumerate(events)]
        futs = {asyncio.ensure_future(e.wait()): n for n, e in named}
        try:
            await asyncio.wait(futs, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for f in futs:
                f.cancel()
        for n, e in named:
            if e.is_set():
                return n
        return "timeout"

    async def _wait_subscribe(self, d: Dialog, trunk: SIPInboundTrunkInfo | None) -> bool:
        """waitSubscribe: ring until someone subscribes, the caller cancels or time is up."""
        ringing = DEFAULT_RINGING_TIMEOUT
        if trunk is not None and trunk.HasField("ringing_timeout"):
            t = trunk.ringing_timeout.seconds + trunk.ringing_timeout.nanos / 1e9
            if t > 0:
                ringing = t
        what = await self._first(d, d.subscribed, timeout=ringing)
        if what == "e0":
            return True
        if what == "cancel":
            # closeWithCancelled: status hangup, 487 Request Terminated
            self._set_status(d, "hangup")
            self._respond(d, 487, "Request Terminated")
        elif what == "timeout":
            self.log.info("inbound SIP call %s: nobody subscribed in %.0f s", d.call_id, ringing)
            self._respond(d, 486, "Rejected")
        else:  # removed or shutdown: closeWithHangup
            self._set_status(d, "hangup")
            self._respond(d, 486, "Rejected")
        return False

    async def _accept(self, d: Dialog, media_timeout: float | None) -> bool:
        """acceptCall: 200 OK with SDP (retransmitted until ACK), RTP, then ``active``."""
        resp = self._respond(d, 200, "OK", d.answer_sdp)
        d.ok = resp
        self.dialogs[d.call_id] = d
        assert d.rtp is not None and d.rtp.remote is not None
        d.rtp.start(d.rtp.remote, d.rtp.payload_type, d.rtp.dtmf_payload_type)
        self._spawn(self._retransmit_ok(d, resp))
        if self.on_call_answered is not None:
            self.on_call_answered(d)
        # inbound.go acceptCall: EnableTimeout(true) once the 200 OK is out
        d.media_general = media_timeout or self.media_timeout
        d.media_start = asyncio.get_running_loop().time()
        # waitMedia: the first RTP packet or 1 s
        t0 = time.monotonic()
        while d.rtp.last_received is None and time.monotonic() - t0 < AUDIO_BRIDGE_MAX_DELAY:
            if d.cancelled.is_set() or d.remote_bye.is_set() or d.stop.is_set():
                break
            await asyncio.sleep(0.02)
        if d.remote_bye.is_set() or d.stop.is_set():
            self._set_status(d, "hangup")
            return False
        self._set_status(d, "active")
        return True

    async def _retransmit_ok(self, d: Dialog, resp: Response) -> None:
        if d.peer.transport != "udp":
            return
        interval, waited = 0.5, 0.0
        while not d.acked.is_set() and waited < ACK_WAIT and not d.remote_bye.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(d.acked.wait(), interval)
            if d.acked.is_set():
                return
            waited += interval
            interval = min(interval * 2, 4.0)
            d.peer.send(resp)

    async def _pin_prompt(
        self,
        d: Dialog,
        trunks: list[SIPInboundTrunkInfo],
        rules: list[SIPDispatchRuleInfo],
        call: InboundCall,
    ) -> Decision | None:
        """pinPrompt: digits up to '#', then dispatch again with the PIN."""
        pin = ""
        while True:
            getter = asyncio.ensure_future(d.dtmf.get())
            stop = asyncio.ensure_future(self._first(d, timeout=None))
            done, _ = await asyncio.wait({getter, stop}, return_when=asyncio.FIRST_COMPLETED)
            if stop in done:
                getter.cancel()
                return None
            stop.cancel()
            digit = getter.result()
            if digit == "#":
                try:
                    decision = route(trunks, rules, call, pin=pin, no_pin=pin == "")
                except RoutingError:
                    await self._bye(d)
                    return None
                if decision.result != "accept" or not decision.room_name:
                    self.log.info("inbound SIP call %s: wrong pin", d.call_id)
                    await self._bye(d)
                    return None
                return decision
            pin += digit
            if len(pin) > PIN_LIMIT:
                await self._bye(d)
                return None

    async def _media_timed_out(self, d: Dialog) -> None:
        rtp = d.rtp
        assert rtp is not None
        loop = asyncio.get_running_loop()
        start, general = d.media_start, d.media_general
        while True:
            last = rtp.last_received
            deadline = start + self.media_timeout_initial if last is None else last + general
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, general))

    async def _wait_end(self, d: Dialog, trunk: SIPInboundTrunkInfo | None) -> None:
        max_dur = MAX_CALL_DURATION
        if trunk is not None and trunk.HasField("max_call_duration"):
            t = trunk.max_call_duration.seconds + trunk.max_call_duration.nanos / 1e9
            if 0 < t < MAX_CALL_DURATION:
                max_dur = t
        timer = asyncio.Event()
        watcher = asyncio.ensure_future(self._media_timed_out(d))
        watcher.add_done_callback(lambda _: timer.set())
        try:
            what = await self._first(d, timer, timeout=max_dur)
        finally:
            watcher.cancel()
        if what == "bye":
            self._set_status(d, "hangup")  # closeWithHangup
            return
        if what in ("e0", "timeout"):
            self.log.info(
                "inbound SIP call %s: %s",
                d.call_id,
                "media timeout" if what == "e0" else "max call duration",
            )
            self._set_status(d, "hangup")
        await self._bye(d)

    async def _bye(self, d: Dialog) -> None:
        """sendBye: a BYE in the dialog, through the INVITE's Record-Route set."""
        if d.ok is None or d.remote_bye.is_set():
            return
        inv = d.invite
        contact = inv.contact
        target = contact.uri if contact is not None else inv.from_.uri
        routes = inv.headers.get_all("Record-Route")
        d.cseq = max(d.cseq, 1) + 1
        branch = new_branch()
        h = Headers()
        h.add(
            "Via",
            f"SIP/2.0/{d.peer.transport.upper()} {self.host}:{self.port};branch={branch};rport",
        )
        for r in routes:  # the UAS uses the Record-Route set in order
            h.add("Route", r)
        to = inv.headers.get("From") or ""
        own_to = inv.headers.get("To") or ""
        if ";tag=" not in own_to.replace(" ", ""):
            own_to = f"{own_to};tag={d.call_id}"
        h.add("From", own_to)
        h.add("To", to)
        h.add("Call-ID", d.sip_call_id)
        h.add("CSeq", f"{d.cseq} BYE")
        h.add("Max-Forwards", "70")
        h.add("User-Agent", USER_AGENT)
        bye = Request(headers=h, method="BYE", uri=target)
        fut: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending[branch] = fut
        # on shutdown one short try: the far end may already be gone
        waits = (0.5,) if d.ended_by == "shutdown" else (0.5, 1.0, 2.0)
        try:
            for wait in waits:
                d.peer.send(bye)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(fut), wait)
                if fut.done() or d.peer.transport != "udp":
                    break
        finally:
            self._pending.pop(branch, None)

    async def _finish(self, d: Dialog) -> None:
        if d.ok is not None and self.on_call_ended is not None:
            self.on_call_ended(d)
        self._by_branch.pop(d.branch, None)
        self.dialogs.pop(d.call_id, None)
        if d.rtp is not None:
            d.rtp.close()
        p = d.participant
        if p is not None and self.rooms.find(d.room, p.identity) is p:
            p.on_remove = None
            self.rooms.leave(d.room, p.identity)
        if d.last_response is None or d.last_response.status != 407:
            # a challenged INVITE keeps its state for the retry (inbound.go getInvite)
            self._challenges.pop(d.sip_call_id, None)
        # bounded: a retry comes within seconds
        while len(self._challenges) > 1000:
            self._challenges.pop(next(iter(self._challenges)))
        while len(self._provisional) > 1000:
            self._provisional.pop(next(iter(self._provisional)))
        if d.participant is not None:
            self.log.info("inbound SIP call %s ended (status %s)", d.call_id, d.status)


def _tag(msg: Request, header: str) -> str | None:
    try:
        addr = msg.to if header == "To" else msg.from_
    except SipParseError:
        return None
    return addr.tag


def _nonce(sip_call_id: str) -> str:
    # inbound.go generateNonce: random, tied to the Call-ID (its exact form is not visible)
    return hashlib.sha256(f"{sip_call_id}:{secrets.token_hex(8)}".encode()).hexdigest()[:32]


def _answer_sdp(ip: str, port: int, pt: int, codec: str, dtmf_pt: int | None) -> bytes:
    sid = secrets.randbits(62)
    fmts = [str(pt)] + ([str(dtmf_pt)] if dtmf_pt is not None else [])
    lines = [
        "v=0",
        f"o=LiveKit {sid} {sid} IN IP4 {ip}",
        "s=LiveKit",
        f"c=IN IP4 {ip}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {' '.join(fmts)}",
        f"a=rtpmap:{pt} {codec}/8000",
    ]
    if dtmf_pt is not None:
        lines += [f"a=rtpmap:{dtmf_pt} telephone-event/8000", f"a=fmtp:{dtmf_pt} 0-16"]
    lines += ["a=ptime:20", "a=sendrecv"]
    return ("\r\n".join(lines) + "\r\n").encode()
