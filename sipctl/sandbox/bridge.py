"""The sandbox's SIP bridge: CreateSIPParticipant places a real outbound SIP call.

Behaviour follows livekit/sip (pkg/sip/client.go, outbound.go, participant.go) and
livekit/protocol (rpc/sip.go, livekit/sip.go); see docs in the reference, §5:

1. the participant (kind SIP) joins the room first with ``sip.callStatus=dialing``;
2. without ``wait_until_answered`` the RPC returns now and a failure later just
   removes the participant; with it, the RPC returns after answer (+ DTMF) and a
   failure is the RPC's Twirp error (:mod:`sipctl.sandbox.sip.status`);
3. first 180–199 → ``ringing``; 200 → header attributes, ``sip.callTag``,
   ``sip.callIDFull``; DTMF → ``automation``; then ``active``;
4. the call ends on remote BYE or ``max_call_duration`` (``hangup``, then leave), on
   RemoveParticipant/DeleteRoom (BYE, or CANCEL while ringing, status unchanged), on a
   media timeout (BYE, status unchanged, then leave) or on :meth:`Bridge.close`.

Media timeout (livekit/sip pkg/sip/media_port.go MediaPort.timeoutLoop, armed by
outbound.go connectSIP ``EnableTimeout(true)`` once the answer is accepted, fired in
waitClose as closeWithTimeout): no RTP within the initial timeout since the answer, or
none for the media timeout after the last packet, ends the call. The initial timeout
is the bridge's (``--initial-media-timeout``); the other comes from the merged
``media.media_timeout`` of trunk and request, else the bridge's (``--media-timeout``).

Audio hook (for the real-time side under ``sipctl.sandbox.rtc``): set
``Bridge.on_call_answered``; it gets the :class:`BridgeCall` once the far end answered.
``bc.call.rtp`` is the call's RTP endpoint: its ``on_audio`` receives the far end's
audio as 8 kHz 16-bit PCM frames and its ``audio_source`` supplies what is sent back
(see :mod:`sipctl.sandbox.sip.rtp`). ``Bridge.on_call_ended`` gets it when it ends.

Each call has its own SIP socket (UDP) or connection (TCP) and its own RTP socket;
see :mod:`sipctl.sandbox.sip.transport`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from livekit.protocol.sip import (
    CreateSIPParticipantRequest,
    SIPOutboundTrunkInfo,
    SIPParticipantInfo,
)

from sipctl.sandbox.errors import TwirpError
from sipctl.sandbox.media import (
    DEFAULT_MEDIA_TIMEOUT,
    DEFAULT_MEDIA_TIMEOUT_INITIAL,
    MediaSettings,
    merge,
)
from sipctl.sandbox.outbound import OutboundHeaders, build_headers, codec_set
from sipctl.sandbox.rooms import Participant, RoomRegistry, hashed_id, new_id, sip_participant
from sipctl.sandbox.sip.message import (
    Headers,
    Response,
)
from sipctl.sandbox.sip.status import INVITE_FAILED_CODES, psrpc_error, sip_status_error
from sipctl.sandbox.sip.transaction import Timers
from sipctl.sandbox.sip.transport import local_ip_for
from sipctl.sandbox.sip.uac import (
    AuthFailed,
    Call,
    CallCanceled,
    CallError,
    CallProtocolError,
    CallSpec,
    CallTransportError,
    InviteRejected,
    MediaError,
    NoFinalResponse,
    ResolveError,
    resolve,
)

DEFAULT_RINGING_TIMEOUT = 180.0  # bridge default: 3 min
MAX_CALL_DURATION = 24 * 3600.0  # global cap
# livekit-server's psrpc budget is 30 s, 80 s with wait_until_answered. The API handler
# enforces it (honouring X-Twirp-Timeout-Ms); this is the bridge's own backstop for the
# only case that can last that long here: waiting for the answer.
CALL_BUDGET_ANSWERED = 80.0
HANGUP_WAIT = 2.0  # how long RemoveParticipant waits for the BYE's answer
CLOSE_WAIT = 8.0

ATTR_CALL_ID = "sip.callID"
ATTR_TRUNK_ID = "sip.trunkID"
ATTR_PHONE = "sip.phoneNumber"
ATTR_HOST = "sip.hostname"
ATTR_TRUNK_PHONE = "sip.trunkPhoneNumber"
ATTR_STATUS = "sip.callStatus"
ATTR_CALL_TAG = "sip.callTag"
ATTR_CALL_ID_FULL = "sip.callIDFull"
ATTR_HEADER_PREFIX = "sip.h."

# headers every bridge maps, on 1xx and 200 (livekit/sip pkg/sip/types.go headerToAttr)
GLOBAL_HEADER_ATTRS: dict[str, str] = {
    "X-Twilio-AccountSid": "sip.twilio.accountSid",
    "X-Twilio-CallSid": "sip.twilio.callSid",
    "X-call_leg_id": "sip.telnyx.callLegID",
    "X-call_session_id": "sip.telnyx.callSessionID",
    "X-Amzn-ConnectContactId": "sip.amazon.contactId",
    "X-Amzn-ConnectInitialContactId": "sip.amazon.initialContactId",
    "X-Amzn-SourceAccount": "sip.amazon.sourceAccount",
    "X-Amzn-SourceArn": "sip.amazon.sourceArn",
    "X-Amzn-TargetArn": "sip.amazon.targetArn",
    "X-Lk-Test-Id": "lktest.id",
}

TWILIO_BLOCK_CODES = frozenset({32203})  # errors.go twilioPermanentBlockCodes

_TRANSPORTS = {0: ("udp", ""), 1: ("udp", "udp"), 2: ("tcp", "tcp"), 3: ("tls", "tls")}


def _duration(msg: CreateSIPParticipantRequest, name: str) -> float:
    if not msg.HasField(name):
        return 0.0
    d = getattr(msg, name)
    return float(d.seconds) + float(d.nanos) / 1e9


def headers_to_attrs(
    headers: Headers,
    mapping: dict[str, str],
    include: int,
) -> dict[str, str]:
    """livekit/sip HeadersToAttrs: ``sip.h.*`` per include_headers, global map, trunk map."""
    attrs: dict[str, str] = {}
    if include:  # SIP_X_HEADERS=1, SIP_ALL_HEADERS=2
        for name, value in headers:
            low = name.lower()
            if include == 1 and not low.startswith("x-"):
                continue
            attrs[ATTR_HEADER_PREFIX + low] = value
    # the global map, then the trunk's: a trunk mapping never hides a built-in one
    for table in (GLOBAL_HEADER_ATTRS, mapping):
        for hdr, attr in table.items():
            found = headers.get(hdr)
            if found is not None:
                attrs[attr] = found
    return attrs


@dataclass
class BridgeCall:
    """One outbound call and its participant."""

    call_id: str  # SCL_...
    room: str
    participant: Participant
    req: CreateSIPParticipantRequest
    trunk: SIPOutboundTrunkInfo
    from_number: str
    call: Call | None = None
    status: str = "dialing"
    ringing_sent: bool = False
    started: float = field(default_factory=time.monotonic)
    result: asyncio.Future[None] | None = None
    task: asyncio.Task[None] | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)  # removed / closing
    stop_reason: str = ""
    max_duration: float = MAX_CALL_DURATION
    media: MediaSettings = field(default_factory=MediaSettings)
    media_timed_out: bool = False
    media_timer: asyncio.Future[None] | None = None
    codecs: dict[int, str] = field(default_factory=dict)

    @property
    def identity(self) -> str:
        return self.participant.identity


class Bridge:
    """Places the sandbox's outbound SIP calls (one :class:`Call` per participant)."""

    def __init__(
        self,
        rooms: RoomRegistry,
        host: str,
        logger: logging.Logger,
        *,
        timers: Timers | None = None,
        media_timeout: float = DEFAULT_MEDIA_TIMEOUT,
        media_timeout_initial: float = DEFAULT_MEDIA_TIMEOUT_INITIAL,
    ) -> None:
        self.rooms = rooms
        self.media_timeout = media_timeout
        self.media_timeout_initial = media_timeout_initial
        self.on_call_answered: Callable[[BridgeCall], None] | None = None
        self.on_call_ended: Callable[[BridgeCall], None] | None = None
        self.host = host  # From host when the trunk has no from_host
        self.log = logger
        self.timers = timers or Timers()
        self.calls: dict[str, BridgeCall] = {}
        # call tasks until fully done (a failed call still CANCELs/ACKs after it left)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    # -- the RPC --------------------------------------------------------------------
    async def create_sip_participant(
        self,
        req: CreateSIPParticipantRequest,
        trunk: SIPOutboundTrunkInfo,
        from_number: str,
    ) -> SIPParticipantInfo:
        if self._closing:
            raise psrpc_error("unavailable", "service shutting down")
        kind, _ = _TRANSPORTS.get(int(trunk.transport), ("udp", ""))
        # client.go createSIPParticipant: media config and headers are checked before the
        # participant joins (their errors come back at once, waited or not)
        media = merge(
            trunk.media if trunk.HasField("media") else None,
            int(trunk.media_encryption),
            req.media if req.HasField("media") else None,
            int(req.media_encryption),
        )
        codecs = codec_set(media)
        build_headers(req, trunk.address, int(trunk.transport), from_number, self._own_host())
        call_id = new_id("SCL_")
        identity = req.participant_identity or f"sip_{req.sip_call_to}"
        attrs = dict(req.participant_attributes)
        attrs[ATTR_CALL_ID] = call_id
        attrs[ATTR_TRUNK_ID] = req.sip_trunk_id or trunk.sip_trunk_id
        if not req.hide_phone_number:
            attrs[ATTR_PHONE] = req.sip_call_to
            attrs[ATTR_HOST] = trunk.address
            attrs[ATTR_TRUNK_PHONE] = from_number
        attrs[ATTR_STATUS] = "dialing"

        # LiveKit kicks an older participant with the same identity (its call hangs up)
        if self.rooms.find(req.room_name, identity) is not None:
            await self.rooms.remove_participant(req.room_name, identity)
        participant = sip_participant(
            identity, req.participant_name, req.participant_metadata, attrs
        )
        bc = BridgeCall(
            call_id=call_id,
            room=req.room_name,
            participant=participant,
            req=req,
            trunk=trunk,
            from_number=from_number,
        )
        bc.media = media
        bc.codecs = codecs
        max_dur = _duration(req, "max_call_duration")
        bc.max_duration = (
            MAX_CALL_DURATION if max_dur <= 0 or max_dur > MAX_CALL_DURATION else max_dur
        )
        participant.on_remove = lambda: self._on_remove(bc)
        self.rooms.join(req.room_name, participant)
        self.calls[call_id] = bc
        loop = asyncio.get_running_loop()
        bc.result = loop.create_future()
        bc.task = asyncio.create_task(self._run(bc), name=f"sip-call-{call_id}")
        self._tasks.add(bc.task)
        bc.task.add_done_callback(self._tasks.discard)
        self.log.info(
            "SIP call %s: room=%s identity=%s to=%s via %s (%s) wait=%s",
            call_id,
            bc.room,
            identity,
            req.sip_call_to,
            trunk.address,
            kind,
            req.wait_until_answered,
        )
        info = SIPParticipantInfo(
            participant_id=participant.sid,
            participant_identity=identity,
            room_name=req.room_name,
            sip_call_id=call_id,
        )
        if not req.wait_until_answered:
            return info
        try:
            await asyncio.wait_for(asyncio.shield(bc.result), CALL_BUDGET_ANSWERED)
        except TimeoutError:
            self._give_up(bc, "request timed out")
            raise psrpc_error("deadline_exceeded", "request timed out") from None
        except asyncio.CancelledError:
            # the server's budget (or the client) gave up: so does the bridge's dial
            self._give_up(bc, "rpc canceled")
            raise
        return info

    def _give_up(self, bc: BridgeCall, reason: str) -> None:
        if bc.result is not None and not bc.result.done():
            bc.stop_reason = reason
            bc.stop.set()
            if bc.call is not None:
                bc.call.abort()

    # -- one call -------------------------------------------------------------------
    async def _run(self, bc: BridgeCall) -> None:
        assert bc.result is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + bc.max_duration
        try:
            try:
                await self._dial(bc, deadline)
            except TwirpError as err:
                self.log.info("SIP call %s failed: %s %s", bc.call_id, err.code, err.msg)
                if not bc.result.done():
                    bc.result.set_exception(err)
                    bc.result.exception()  # retrieved: no "never retrieved" warning
                return
            if not bc.result.done():
                bc.result.set_result(None)
            await self._wait_end(bc, deadline)
        except asyncio.CancelledError:
            if not bc.result.done():
                bc.result.cancel()
            raise
        except Exception as exc:  # never let a bug leave a call behind silently
            self.log.exception("SIP call %s crashed", bc.call_id)
            if not bc.result.done():
                bc.result.set_exception(psrpc_error("internal", f"sip bridge error: {exc}"))
                bc.result.exception()
        finally:
            await self._finish(bc)

    def _own_host(self, dest_ip: str | None = None) -> str:
        # a wildcard listen address is no host name: use the address that reaches the trunk
        if self.host not in ("", "0.0.0.0", "::"):
            return self.host
        return local_ip_for(dest_ip) if dest_ip else "127.0.0.1"

    def _spec(self, bc: BridgeCall, dest: tuple[str, int], hdrs: OutboundHeaders) -> CallSpec:
        req, trunk = bc.req, bc.trunk
        kind, tparam = _TRANSPORTS.get(int(trunk.transport), ("udp", ""))
        headers = dict(trunk.headers)
        headers.update(req.headers)
        return CallSpec(
            request_uri=hdrs.request_uri,
            to=hdrs.to,
            from_=hdrs.from_,
            local_tag=bc.call_id,
            # outbound.go newCall: the SIP Call-ID is guid.HashedID(SCL call ID)
            call_id=hashed_id(bc.call_id),
            transport=kind,
            dest=dest,
            username=trunk.auth_username,
            password=trunk.auth_password,
            headers=sorted(headers.items()),
            contact_transport=bool(tparam),
            codecs=bc.codecs,
            encryption=bc.media.encryption,
        )

    async def _dial(self, bc: BridgeCall, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        req = bc.req
        trunk = bc.trunk
        placeholder = build_headers(
            req, trunk.address, int(trunk.transport), bc.from_number, self._own_host()
        )
        # the INVITE goes to the Request-URI's host (the trunk address unless overridden)
        ruri = placeholder.request_uri
        # types.go URI.GetPort: 5061 for TLS, else 5060
        default_port = 5061 if int(trunk.transport) == 3 else 5060
        try:
            dest = await resolve(ruri.host, ruri.port or default_port)
        except ResolveError as exc:
            raise psrpc_error("invalid_argument", str(exc)) from None
        from_host = trunk.from_host or self._own_host(dest[0])
        hdrs = build_headers(req, trunk.address, int(trunk.transport), bc.from_number, from_host)
        call = Call(self._spec(bc, dest, hdrs), self.log, self.timers)
        bc.call = call
        call.on_provisional = lambda resp: self._on_provisional(bc, resp)
        call.on_remote_bye = bc.stop.set
        if bc.stop.is_set():
            call.abort()
        ringing = _duration(req, "ringing_timeout")
        if ringing <= 0:
            ringing = DEFAULT_RINGING_TIMEOUT
        timeout = min(ringing, max(0.0, deadline - loop.time()))
        try:
            await call.setup()
            await call.invite(timeout=timeout)
        except CallError as exc:
            if isinstance(exc, InviteRejected):
                # attemptInvite's setState runs for every non-200 response: the built-in
                # header mappings reach the participant on a failure too
                self._set_attrs(bc, headers_to_attrs(exc.response.headers, {}, 0))
            raise self._invite_error(exc) from None
        # answered: the media timeout is armed now (outbound.go: EnableTimeout(true))
        bc.media_timer = asyncio.ensure_future(self._media_timeout(bc))
        if self.on_call_answered is not None:
            self.on_call_answered(bc)
        ok = call.ok
        assert ok is not None and call.dialog is not None
        extra = headers_to_attrs(
            ok.headers,
            dict(bc.trunk.headers_to_attributes),
            int(req.include_headers or bc.trunk.include_headers),
        )
        extra[ATTR_CALL_TAG] = call.dialog.remote_tag
        extra[ATTR_CALL_ID_FULL] = call.spec.call_id
        self._set_attrs(bc, extra)
        if req.dtmf:
            self._set_status(bc, "automation")
            dtmf = asyncio.ensure_future(call.rtp.send_dtmf(req.dtmf))
            stop = asyncio.ensure_future(bc.stop.wait())
            await asyncio.wait({dtmf, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if not dtmf.done():
                dtmf.cancel()
        if bc.stop.is_set() and bc.stop_reason:
            # removed or given up while sending digits: not "active"
            raise psrpc_error("canceled", "sip request timed out")
        if call.remote_bye.is_set():
            return  # the far end hung up during the digits: _wait_end sets hangup
        self._set_status(bc, "active")
        self.log.info(
            "SIP call %s established in %.0f ms",
            bc.call_id,
            (call.timings.get("answered", time.monotonic()) - call.timings.get("invite", 0)) * 1000,
        )

    def _invite_error(self, exc: CallError) -> TwirpError:
        """Map a failed INVITE like the bridge + livekit-server do (reference §5.6)."""
        if isinstance(exc, InviteRejected):
            resp = exc.response
            text = resp.reason
            prefix = "unexpected status from INVITE response: "
            if resp.status in INVITE_FAILED_CODES:
                body = resp.body.decode("utf-8", "replace") if resp.body else ""
                text = body or resp.headers.get("X-Twilio-Error") or resp.reason
                prefix = "INVITE failed: "
            # errors.go carrierBlockFromResponse: on any final status, a leading Twilio
            # block code wraps the same SIPStatus (code and text unchanged)
            words = (resp.headers.get("X-Twilio-Error") or "").split()
            code = int(words[0]) if words and words[0].isdigit() else 0
            if code in TWILIO_BLOCK_CODES:
                prefix = f"INVITE blocked by carrier: carrier blocked call (twilio error {code}): "
            return sip_status_error(prefix, resp.status, text)
        if isinstance(exc, AuthFailed):
            # a challenge we cannot parse is an Internal error, downgraded after INVITE
            return psrpc_error("failed_precondition", str(exc))
        if isinstance(exc, CallCanceled):
            return psrpc_error("canceled", "sip request timed out")
        if isinstance(exc, NoFinalResponse):
            return psrpc_error("canceled", str(exc))
        if isinstance(exc, ResolveError):
            return psrpc_error("invalid_argument", str(exc))
        if isinstance(exc, (CallTransportError, CallProtocolError, MediaError)):
            # network/protocol errors after the INVITE went out are not retryable 5xx
            return psrpc_error("failed_precondition", str(exc))
        return psrpc_error("failed_precondition", str(exc))

    def _on_provisional(self, bc: BridgeCall, resp: Response) -> None:
        extra = headers_to_attrs(resp.headers, {}, 0)
        if 180 <= resp.status < 200 and not bc.ringing_sent:
            bc.ringing_sent = True
            self._set_status(bc, "ringing")
        if extra:
            self._set_attrs(bc, extra)

    async def _media_timeout(self, bc: BridgeCall) -> None:
        """Return when the call's media timed out (media_port.go MediaPort.timeoutLoop)."""
        call = bc.call
        assert call is not None
        loop = asyncio.get_running_loop()
        start = loop.time()
        general = bc.media.media_timeout or self.media_timeout
        while True:
            last = call.rtp.last_received
            # initial mode until the first packet ever (early media counts), then general
            deadline = start + self.media_timeout_initial if last is None else last + general
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, general))

    async def _wait_end(self, bc: BridgeCall, deadline: float) -> None:
        call = bc.call
        assert call is not None
        loop = asyncio.get_running_loop()
        remote = asyncio.ensure_future(call.remote_bye.wait())
        stop = asyncio.ensure_future(bc.stop.wait())
        waits: set[asyncio.Future[Any]] = {remote, stop}
        if bc.media_timer is not None:
            waits.add(bc.media_timer)
        try:
            await asyncio.wait(
                waits,
                timeout=max(0.0, deadline - loop.time()),
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            remote.cancel()
            stop.cancel()
        if call.remote_bye.is_set():
            self.log.info("SIP call %s: BYE from remote", bc.call_id)
            self._set_status(bc, "hangup")
        elif bc.media_timer is not None and bc.media_timer.done() and not bc.stop.is_set():
            # closeWithTimeout: status callDropped has no attribute (the last one stays),
            # BYE before the participant leaves
            bc.media_timed_out = True
            self.log.info("SIP call %s: media timeout", bc.call_id)
            await call.bye(self._attrs_to_headers(bc), timeout=HANGUP_WAIT)
        elif not bc.stop.is_set():
            self.log.info("SIP call %s: max call duration reached", bc.call_id)
            self._set_status(bc, "hangup")
            await call.bye(self._attrs_to_headers(bc), timeout=HANGUP_WAIT)
        # removal and close hang up in their own paths (status unchanged)

    async def _finish(self, bc: BridgeCall) -> None:
        if bc.media_timer is not None:
            bc.media_timer.cancel()
        if self.on_call_ended is not None and bc.call is not None and bc.call.dialog is not None:
            self.on_call_ended(bc)
        call = bc.call
        if call is not None:
            if call.dialog is not None and not call.ended.is_set():
                await call.bye(self._attrs_to_headers(bc), timeout=HANGUP_WAIT)
            else:
                call.abort()
        self._leave(bc)
        self.calls.pop(bc.call_id, None)
        if call is not None:
            await call.aclose()
        self.log.info(
            "SIP call %s ended after %.1f s (status %s)",
            bc.call_id,
            time.monotonic() - bc.started,
            bc.status,
        )

    async def _on_remove(self, bc: BridgeCall) -> None:
        """RemoveParticipant / DeleteRoom: BYE, or CANCEL while ringing; status unchanged."""
        bc.stop_reason = bc.stop_reason or "participant removed"
        bc.stop.set()
        call = bc.call
        if call is None:
            return
        if call.dialog is not None and not call.ended.is_set():
            await call.bye(self._attrs_to_headers(bc), timeout=HANGUP_WAIT)
        else:
            call.abort()

    # -- attributes -----------------------------------------------------------------
    def _ours(self, bc: BridgeCall) -> bool:
        return self.rooms.find(bc.room, bc.identity) is bc.participant

    def _set_attrs(self, bc: BridgeCall, attrs: dict[str, str]) -> None:
        if self._ours(bc):
            self.rooms.set_attributes(bc.room, bc.identity, attrs)

    def _set_status(self, bc: BridgeCall, status: str) -> None:
        bc.status = status
        self._set_attrs(bc, {ATTR_STATUS: status})

    def _leave(self, bc: BridgeCall) -> None:
        if self._ours(bc):
            bc.participant.on_remove = None
            self.rooms.leave(bc.room, bc.identity)

    def _attrs_to_headers(self, bc: BridgeCall) -> list[tuple[str, str]]:
        attrs = bc.participant.attributes
        return [
            (hdr, attrs[attr])
            for attr, hdr in sorted(bc.trunk.attributes_to_headers.items())
            if attr in attrs
        ]

    # -- lifecycle ------------------------------------------------------------------
    def active_calls(self) -> list[dict[str, object]]:
        """What is live right now (for state endpoints and tests)."""
        out: list[dict[str, object]] = []
        for bc in self.calls.values():
            out.append(
                {
                    "sip_call_id": bc.call_id,
                    "room": bc.room,
                    "identity": bc.identity,
                    "status": bc.status,
                    "media_timed_out": bc.media_timed_out,
                    "sip_call_id_full": bc.call.spec.call_id if bc.call else "",
                }
            )
        return out

    async def close(self) -> None:
        """Hang up every live call (BYE, or CANCEL while ringing) and wait for them."""
        self._closing = True
        calls = list(self.calls.values())
        for bc in calls:
            bc.stop_reason = bc.stop_reason or "shutdown"
            bc.stop.set()
            if bc.call is not None and bc.call.dialog is None:
                bc.call.abort()
        tasks = set(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=CLOSE_WAIT)
            for t in pending:
                t.cancel()
            for t in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
