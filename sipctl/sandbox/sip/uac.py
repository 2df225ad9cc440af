"""An outbound call: INVITE with SDP, digest retries, CANCEL, ACK, BYE, remote BYE.

Mirrors the LiveKit SIP bridge's outbound leg (livekit/sip pkg/sip/outbound.go):

* every INVITE attempt is a new transaction with the next CSeq; a 401/407 is answered
  with Authorization/Proxy-Authorization computed for the challenge's To URI; at most
  5 INVITEs in total;
* provisionals are passed to ``on_provisional`` (the bridge marks the first 180–199 as
  ringing); any other final status fails the call with :class:`InviteRejected`;
* a 2xx establishes the dialog, is ACKed (and re-ACKed when retransmitted) and starts
  RTP; a 2xx that races a CANCEL is ACKed and then BYEd;
* :meth:`Call.invite` with a ``timeout`` (the ringing timeout) or :meth:`Call.abort`
  gives up with :class:`CallCanceled` at once; CANCEL, the 487 and its ACK happen in
  the background (:meth:`Call.aclose` waits for them).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sipctl.sandbox.sip.dialog import Dialog, DialogError
from sipctl.sandbox.sip.digest import (
    CHALLENGE_HEADER,
    CREDENTIALS_HEADER,
    Challenge,
    DigestError,
    compute_response,
)
from sipctl.sandbox.sip.message import Address, Headers, Request, Response, SipParseError, SipURI
from sipctl.sandbox.sip.rtp import RtpSession
from sipctl.sandbox.sip.sdp import SdpError, make_offer, parse_answer
from sipctl.sandbox.sip.transaction import (
    InviteClientTransaction,
    Timers,
    TransactionLayer,
    TransactionTimeout,
    response_for,
)
from sipctl.sandbox.sip.transport import (
    Addr,
    TransportError,
    UnsupportedTransport,
    local_ip_for,
    open_transport,
)

MAX_INVITE_ATTEMPTS = 5  # the bridge's auth loop: 5 INVITEs in total
CANCEL_GRACE = 5.0  # how long a cancelled INVITE is watched for a racing 2xx
USER_AGENT = "LiveKit"
ALLOW = "INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE"


# ----------------------------------------------------------------------------- errors
class CallError(Exception):
    """Any reason an outbound call did not get established."""


class ResolveError(CallError):
    """The trunk host does not resolve (Go-like text: ``lookup HOST: no such host``)."""


class CallTransportError(CallError):
    """Connection refused, connection lost, send failed."""


class InviteRejected(CallError):
    """A final non-2xx (other than an answered auth challenge)."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"INVITE rejected: {response.status} {response.reason}")
        self.response = response
        self.status = response.status
        self.reason = response.reason


class AuthFailed(CallError):
    """The auth loop gave up: ``kind`` is missing_creds, no_header, max_retry or bad_challenge."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "missing_creds": "sip server required auth, but no username or password was provided",
        "no_header": "no auth header in sip invite response",
        "max_retry": "max auth retry attempts reached for SIP invite",
    }

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(detail or self.MESSAGES.get(kind, kind))
        self.kind = kind


class NoFinalResponse(CallError):
    """Timer B: the INVITE transaction ended without a final response."""

    def __init__(self, responses: int) -> None:
        super().__init__(f"transaction failed to complete ({responses} intermediate responses)")
        self.responses = responses


class CallCanceled(CallError):
    """We gave up on the INVITE (ringing timeout, abort); CANCEL follows in the background."""


class CallProtocolError(CallError):
    """The far end answered something we cannot use (2xx without To tag or Contact)."""


class MediaError(CallError):
    """The SDP answer is unusable; the dialog exists and must be hung up."""


# ------------------------------------------------------------------------------- spec
@dataclass
class CallSpec:
    request_uri: SipURI
    to: Address
    from_: Address  # without tag; the tag is ``local_tag``
    local_tag: str
    call_id: str
    transport: str  # "udp", "tcp" or "tls"
    dest: Addr  # resolved next hop (the trunk)
    username: str = ""
    password: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)  # extra INVITE headers
    # like the bridge: an explicit trunk transport shows in the Contact (TCP always does)
    contact_transport: bool = False
    codecs: dict[int, str] | None = None  # the offer's codecs (None: the default set)
    encryption: int = 0  # SIPMediaEncryption: 0 disable, 1 allow, 2 require


async def resolve(host: str, port: int) -> Addr:
    """A/AAAA lookup (no SRV/NAPTR): the first IPv4 address, else the first one."""
    try:
        ipaddress.ip_address(host)
        return host, port
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError):
        raise ResolveError(f"lookup {host}: no such host") from None
    if not infos:
        raise ResolveError(f"lookup {host}: no such host")
    infos.sort(key=lambda i: 0 if i[0] == socket.AF_INET else 1)
    return str(infos[0][4][0]), port


def uri_addr(uri: SipURI) -> tuple[str, int]:
    return uri.host, uri.port or (5061 if uri.scheme == "sips" else 5060)


# ------------------------------------------------------------------------------- call
class Call:
    """One outbound call over its own transport and RTP socket."""

    def __init__(
        self,
        spec: CallSpec,
        logger: logging.Logger,
        timers: Timers | None = None,
        local_ip: str | None = None,
    ) -> None:
        self.spec = spec
        self.log = logger
        self.timers = timers or Timers()
        self.local_ip = local_ip or local_ip_for(spec.dest[0])
        self.layer: TransactionLayer | None = None
        self.rtp = RtpSession(logger)
        self.dialog: Dialog | None = None
        self.offer = b""
        self.ok: Response | None = None  # the 2xx that established the call
        self.on_provisional: Callable[[Response], None] | None = None
        self.on_remote_bye: Callable[[], None] | None = None
        self.ringing = asyncio.Event()
        self.answered = asyncio.Event()
        self.ended = asyncio.Event()
        self.end_reason: str | None = None
        self.remote_bye = asyncio.Event()
        self.failed = asyncio.Event()  # invite() raised; the reason is ``error``
        self.error: CallError | None = None
        self.timings: dict[str, float] = {}
        self._cseq = 0
        self._aborted = asyncio.Event()
        self._invite_tx: InviteClientTransaction | None = None
        self._ack: Request | None = None
        self._ack_dest: Addr | None = None
        self._bg: set[asyncio.Task[None]] = set()
        self._bye: asyncio.Future[Response] | None = None
        self._closed = False

    # -- setup ----------------------------------------------------------------------
    async def setup(self) -> None:
        """Open the SIP transport (TCP: connect) and the RTP socket."""
        try:
            transport = await open_transport(
                self.spec.transport, self.spec.dest, self.log, self.local_ip
            )
        except UnsupportedTransport:
            raise
        except TransportError as exc:
            raise CallTransportError(str(exc)) from None
        except OSError as exc:
            raise CallTransportError(f"listen udp {self.local_ip}:0: {exc}") from None
        self.layer = TransactionLayer(transport, self.log, self.timers, self._on_request)
        self.layer.on_stray_response = self._on_stray_response
        await self.rtp.open(self.local_ip)
        self.offer = make_offer(
            self.local_ip,
            self.rtp.local[1],
            codecs=self.spec.codecs,
            encrypted=self.spec.encryption != 0,
        )

    @property
    def contact(self) -> str:
        assert self.layer is not None
        host, port = self.layer.transport.local
        explicit = self.spec.transport in ("tcp", "tls") or self.spec.contact_transport
        tp = f";transport={self.spec.transport}" if explicit else ""
        return f"<sip:{host}:{port}{tp}>"

    @property
    def from_header(self) -> Address:
        a = Address(self.spec.from_.uri, self.spec.from_.display_name, dict(self.spec.from_.params))
        a.params["tag"] = self.spec.local_tag
        return a

    def _build_invite(self, auth: tuple[str, str] | None) -> Request:
        assert self.layer is not None
        self._cseq += 1
        h = Headers()
        h.add("Via", str(self.layer.via()))
        h.add("Max-Forwards", "70")
        h.add("From", str(self.from_header))
        h.add("To", str(self.spec.to))
        h.add("Call-ID", self.spec.call_id)
        h.add("CSeq", f"{self._cseq} INVITE")
        h.add("Contact", self.contact)
        h.add("Content-Type", "application/sdp")
        h.add("Allow", ALLOW)
        # outbound.go attemptInvite adds no User-Agent (only the BYE carries one)
        if auth is not None:
            h.add(auth[0], auth[1])
        for name, value in self.spec.headers:
            h.add(name, value)
        return Request(headers=h, method="INVITE", uri=self.spec.request_uri, body=self.offer)

    # -- INVITE ---------------------------------------------------------------------
    async def invite(self, timeout: float | None = None) -> Response:
        """Dial until answered; returns the 2xx or raises a :class:`CallError`."""
        try:
            return await self._invite(timeout)
        except CallError as exc:
            self.error = exc
            self.failed.set()
            raise

    async def _invite(self, timeout: float | None) -> Response:
        if self.layer is None:
            await self.setup()
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        self.timings["invite"] = time.monotonic()
        auth: tuple[str, str] | None = None
        for _ in range(MAX_INVITE_ATTEMPTS):
            req = self._build_invite(auth)
            assert self.layer is not None
            tx = self.layer.start_invite(req, self.spec.dest)
            self._invite_tx = tx
            resp = await self._await_final(tx, deadline)
            if 200 <= resp.status < 300:
                return await self._established(req, resp, tx)
            if resp.status not in (401, 407):
                raise InviteRejected(resp)
            auth = self._answer_challenge(req, resp)
        raise AuthFailed("max_retry")

    def _answer_challenge(self, req: Request, resp: Response) -> tuple[str, str]:
        if not self.spec.username or not self.spec.password:
            raise AuthFailed("missing_creds")
        value = resp.headers.get(CHALLENGE_HEADER[resp.status])
        if value is None:
            raise AuthFailed("no_header")
        try:
            challenge = Challenge.parse(value)
            to_uri = str(resp.to.uri)
            cred = compute_response(
                challenge,
                method=req.method,
                uri=to_uri,
                username=self.spec.username,
                password=self.spec.password,
            )
        except (DigestError, SipParseError) as exc:
            raise AuthFailed("bad_challenge", f"invalid challenge {value!r}: {exc}") from None
        return CREDENTIALS_HEADER[resp.status], cred.header_value()

    async def _await_final(self, tx: InviteClientTransaction, deadline: float | None) -> Response:
        loop = asyncio.get_running_loop()
        while True:
            remaining = None if deadline is None else deadline - loop.time()
            if (remaining is not None and remaining <= 0) or self._aborted.is_set():
                self._spawn(self._cancel_flow(tx))
                raise CallCanceled("sip request timed out")
            nxt = asyncio.ensure_future(tx.next_response())
            abort = asyncio.ensure_future(self._aborted.wait())
            try:
                await asyncio.wait(
                    {nxt, abort}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                abort.cancel()
                if not nxt.done():
                    nxt.cancel()
            if not nxt.done() or nxt.cancelled():
                continue  # deadline or abort: handled at the top of the loop
            try:
                resp = nxt.result()
            except TransactionTimeout as exc:
                raise NoFinalResponse(exc.responses) from None
            except TransportError as exc:
                raise CallTransportError(str(exc)) from None
            if "first_response" not in self.timings:
                self.timings["first_response"] = time.monotonic()
            if resp.status < 200:
                if 180 <= resp.status < 200:
                    self.ringing.set()
                if self.on_provisional is not None:
                    self.on_provisional(resp)
                continue
            return resp

    async def _established(
        self, req: Request, resp: Response, tx: InviteClientTransaction
    ) -> Response:
        try:
            self.dialog = Dialog.from_2xx(req, resp)
        except DialogError as exc:
            # issue #14 item 9: LiveKit answers a 200 OK without To tag with a BYE
            with contextlib.suppress(DialogError, SipParseError):
                self.dialog = Dialog.from_2xx(req, resp, lenient=True)
                self.ok = resp
                await self._send_ack()
                await self.bye()
            raise CallProtocolError(str(exc)) from None
        except SipParseError as exc:
            raise CallProtocolError(f"bad INVITE response: {exc}") from None
        self.ok = resp
        self.timings["answered"] = time.monotonic()
        await self._send_ack()
        tx.on_2xx = self._reack
        self.answered.set()
        try:
            answer = parse_answer(resp.body)
        except SdpError as exc:
            raise MediaError(str(exc)) from None
        # media-sdk sdp/offer.go Answer.apply: crypto only when both sides have it; with
        # "require" and a plain answer: ErrNoCommonCrypto
        if self.spec.encryption == 2 and not answer.crypto:
            raise MediaError("no common encryption profiles")
        if self.spec.encryption != 0 and answer.crypto:
            # deviation: the sandbox negotiates SDES but has no SRTP media stack
            raise MediaError("SRTP media is not implemented by the sandbox")
        try:
            remote = await resolve(answer.ip, answer.port)
        except ResolveError as exc:
            raise MediaError(str(exc)) from None
        self.rtp.start(remote, answer.payload_type, answer.dtmf_payload_type)
        return resp

    async def _send_ack(self) -> None:
        assert self.layer is not None and self.dialog is not None
        self._ack = self.dialog.ack(self.layer.via())
        self._ack_dest = await self._next_hop()
        try:
            await self.layer.send_raw(self._ack, self._ack_dest)
        except TransportError as exc:
            self.log.warning("SIP ACK not sent: %s", exc)
        self.log.info(
            "SIP %s ACK %s (2xx) call-id=%s",
            self.layer.transport.name,
            self._ack.uri,
            self.spec.call_id,
        )

    def _reack(self, resp: Response) -> None:
        """A retransmitted 2xx: our ACK was lost, send the same ACK again."""
        if self.layer is None or self._ack is None or self._ack_dest is None:
            return
        if resp.to.tag != (self.dialog.remote_tag if self.dialog else None):
            return
        self._spawn(self._send_quietly(self._ack, self._ack_dest))

    def _on_stray_response(self, resp: Response) -> None:
        # a 2xx retransmission after the INVITE transaction is gone (Timer M)
        if resp.status < 300 and resp.cseq.method == "INVITE" and resp.call_id == self.spec.call_id:
            self._reack(resp)

    async def _send_quietly(self, msg: Request, dest: Addr) -> None:
        if self.layer is None:
            return
        try:
            await self.layer.send_raw(msg, dest)
        except TransportError as exc:
            self.log.debug("SIP send failed: %s", exc)

    async def _next_hop(self) -> Addr:
        assert self.dialog is not None
        if self.spec.transport in ("tcp", "tls"):
            return self.spec.dest  # one connection per call: in-dialog requests reuse it
        host, port = uri_addr(self.dialog.next_hop())
        try:
            return await resolve(host, port)
        except ResolveError:
            return self.spec.dest

    # -- giving up while it rings -----------------------------------------------------
    def abort(self) -> None:
        """Give up on a pending INVITE (participant removed, shutdown)."""
        self._aborted.set()

    async def _cancel_flow(self, tx: InviteClientTransaction) -> None:
        """CANCEL once a provisional arrived; ACK+BYE a racing 2xx; bounded by CANCEL_GRACE."""
        loop = asyncio.get_running_loop()
        end = loop.time() + CANCEL_GRACE
        cancel_sent = False
        if tx.state == "calling":
            # not even a 100 Trying came back: nothing to CANCEL (RFC 3261 §9.1), stop
            tx.terminate()
            return
        while True:
            if tx.state == "proceeding" and not cancel_sent:
                self._send_cancel(tx)
                cancel_sent = True
            if tx.state not in ("calling", "proceeding"):
                break
            remaining = end - loop.time()
            if remaining <= 0:
                break
            try:
                resp = await asyncio.wait_for(tx.next_response(), remaining)
            except (TimeoutError, TransactionTimeout, TransportError):
                break
            if 200 <= resp.status < 300:
                await self._answered_after_cancel(tx.request, resp)
                return
        if tx.state in ("calling", "proceeding"):
            tx.terminate()  # nothing (or no final) came back: stop retransmitting

    def _send_cancel(self, tx: InviteClientTransaction) -> None:
        """CANCEL (RFC 3261 §9.1): the INVITE's R-URI, top Via, Call-ID, From, To, Route."""
        assert self.layer is not None
        inv = tx.request
        h = Headers()
        h.add("Via", str(inv.top_via))
        for route in inv.headers.get_all("Route"):
            h.add("Route", route)
        h.add("Max-Forwards", "70")
        h.add("From", inv.headers.get("From") or "")
        h.add("To", inv.headers.get("To") or "")
        h.add("Call-ID", self.spec.call_id)
        h.add("CSeq", f"{inv.cseq.number} CANCEL")
        self.layer.start_request(Request(headers=h, method="CANCEL", uri=inv.uri), tx.dest)

    async def _answered_after_cancel(self, req: Request, resp: Response) -> None:
        self.log.info(
            "SIP cancelled INVITE answered; sending ACK and BYE call-id=%s", self.spec.call_id
        )
        try:
            self.dialog = Dialog.from_2xx(req, resp)
        except SipParseError:
            return
        self.ok = resp
        await self._send_ack()
        await self.bye()

    # -- hanging up -------------------------------------------------------------------
    async def bye(
        self, extra: Iterable[tuple[str, str]] = (), timeout: float | None = None
    ) -> Response | None:
        """BYE the established dialog; returns its final response (None: none came)."""
        if self.dialog is None or self.layer is None or self.ended.is_set():
            return None
        self._mark_ended("local-bye")
        h = Headers([("User-Agent", USER_AGENT), *extra])
        req = self.dialog.request("BYE", self.layer.via(), h)
        tx = self.layer.start_request(req, await self._next_hop())
        # the transaction outlives a short wait here: aclose() lets it finish
        self._bye = asyncio.ensure_future(tx.final_response())
        try:
            return await asyncio.wait_for(asyncio.shield(self._bye), timeout)
        except (TimeoutError, TransactionTimeout, TransportError) as exc:
            self.log.info(
                "SIP BYE got no final response: %s call-id=%s", exc or "timeout", self.spec.call_id
            )
            return None

    async def hangup(
        self, extra: Iterable[tuple[str, str]] = (), timeout: float | None = None
    ) -> None:
        """BYE if answered, else give up the INVITE (CANCEL in the background)."""
        if self.dialog is not None:
            await self.bye(extra, timeout)
        else:
            self.abort()

    def _mark_ended(self, reason: str) -> None:
        if not self.ended.is_set():
            self.end_reason = reason
            self.ended.set()
        self.rtp.close()

    def _on_request(self, req: Request, source: Addr) -> Response | None:
        if self.dialog is None or not self.dialog.matches(req):
            return None  # 481
        if req.method == "BYE":
            resp = response_for(req, 200, "OK")
            if not self.ended.is_set():
                self._mark_ended("remote-bye")
                self.remote_bye.set()
                if self.on_remote_bye is not None:
                    self.on_remote_bye()
            return resp
        if req.method in ("OPTIONS", "INFO", "NOTIFY", "UPDATE"):
            return response_for(req, 200, "OK")
        if req.method == "INVITE":
            return response_for(req, 488, "Not Acceptable Here")  # no re-INVITE support
        return response_for(req, 501, "Not Implemented")

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._bg.add(task)
        task.add_done_callback(self._bg_done)

    def _bg_done(self, task: asyncio.Task[None]) -> None:
        self._bg.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.warning("SIP background step failed: %r", task.exception())

    async def aclose(self, timeout: float = CANCEL_GRACE + 1) -> None:
        """Wait for background CANCEL/ACK work and a pending BYE, then release sockets."""
        waits: set[asyncio.Future[Any]] = set(self._bg)
        if self._bye is not None and not self._bye.done():
            waits.add(self._bye)
        if waits:
            _, pending = await asyncio.wait(waits, timeout=timeout)
            for t in pending:
                t.cancel()
        if self._bye is not None and self._bye.done() and not self._bye.cancelled():
            self._bye.exception()  # consumed: a BYE without answer was already logged
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.rtp.close()
        if self.layer is not None:
            self.layer.close()
        for t in list(self._bg):
            t.cancel()
