"""SIP client transactions (RFC 3261 §17.1, with the RFC 6026 Accepted state) and the
small transaction layer that ties them to a transport.

* INVITE: Timer A retransmits on UDP (T1, 2·T1, ...) until a response; Timer B (64·T1)
  gives up while nothing at all came back. Non-2xx finals are ACKed on the INVITE's
  branch and their retransmissions re-ACKed (Timer D). 2xx are the TU's business
  (the dialog ACKs them); retransmitted 2xx are handed to ``on_2xx`` for a re-ACK.
* non-INVITE (CANCEL, BYE, INFO, ...): Timer E retransmits on UDP (doubling to T2),
  Timer F (64·T1) gives up; Timer K absorbs retransmitted finals.

Incoming requests (the far end's BYE, OPTIONS, ...) go to a handler that returns
the response; the layer remembers it per branch and re-sends it on retransmission.
One log line is written per finished transaction.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sipctl.sandbox.sip.message import Headers, Request, Response, SipParseError, Via
from sipctl.sandbox.sip.transport import Addr, Transport, TransportError

BRANCH_MAGIC = "z9hG4bK"


@dataclass(frozen=True)
class Timers:
    """RFC 3261 timer base values (seconds); scale T1 down in tests."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0

    @property
    def b(self) -> float:
        return 64 * self.t1

    @property
    def f(self) -> float:
        return 64 * self.t1

    @property
    def m(self) -> float:
        return 64 * self.t1

    @property
    def d(self) -> float:
        # RFC 3261 asks for at least 32 s; 64·T1 is that at the default T1
        return 64 * self.t1


class TransactionTimeout(Exception):
    """Timer B/F fired: no final response (``responses`` provisionals had arrived)."""

    def __init__(self, method: str, responses: int) -> None:
        super().__init__(f"{method} transaction timed out ({responses} intermediate responses)")
        self.method = method
        self.responses = responses


def new_branch() -> str:
    return BRANCH_MAGIC + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(6)


def response_for(request: Request, status: int, reason: str, to_tag: str | None = None) -> Response:
    """A response to ``request`` (RFC 3261 §8.2.6.2): Via/From/To/Call-ID/CSeq copied."""
    h = Headers()
    for via in request.headers.get_all("Via"):
        h.add("Via", via)
    h.add("From", request.headers.get("From") or "")
    to = request.headers.get("To") or ""
    if to_tag and ";tag=" not in to.replace(" ", "").lower():
        to = f"{to};tag={to_tag}"
    h.add("To", to)
    h.add("Call-ID", request.headers.get("Call-ID") or "")
    h.add("CSeq", request.headers.get("CSeq") or "")
    return Response(headers=h, status=status, reason=reason)


class ClientTransaction:
    """Base: queue of responses for the TU, termination with a reason."""

    def __init__(self, layer: TransactionLayer, request: Request, dest: Addr) -> None:
        self.layer = layer
        self.request = request
        self.dest = dest
        self.method = request.method
        self.branch = request.top_via.branch or ""
        self.key = (self.branch, self.method)
        self.responses: asyncio.Queue[Response] = asyncio.Queue()
        self.provisionals = 0
        self.final: Response | None = None
        self.error: BaseException | None = None
        self.terminated = asyncio.Event()
        self.started = time.monotonic()
        self._timers: list[asyncio.TimerHandle] = []
        self._logged = False

    # -- TU side ----------------------------------------------------------------
    async def next_response(self) -> Response:
        """The next response; raises TransactionTimeout/TransportError when it ended without."""
        while True:
            if not self.responses.empty():
                return self.responses.get_nowait()
            if self.terminated.is_set():
                raise self.error or TransactionTimeout(self.method, self.provisionals)
            get = asyncio.ensure_future(self.responses.get())
            done = asyncio.ensure_future(self.terminated.wait())
            try:
                await asyncio.wait({get, done}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                done.cancel()
                if not get.done():
                    get.cancel()
            if get.done() and not get.cancelled():
                return get.result()

    async def final_response(self) -> Response:
        while True:
            resp = await self.next_response()
            if resp.status >= 200:
                return resp

    # -- internals ----------------------------------------------------------------
    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        self._timers.append(asyncio.get_running_loop().call_later(delay, fn))

    def _cancel_timers(self) -> None:
        for t in self._timers:
            t.cancel()
        self._timers.clear()

    def _send(self, msg: Request) -> None:
        task = asyncio.ensure_future(self.layer.transport.send(msg, self.dest))
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Future[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.fail(exc)

    def fail(self, exc: BaseException) -> None:
        if self.terminated.is_set():
            return
        self.error = exc
        self._log(f"failed: {exc}")
        self.terminate()

    def terminate(self) -> None:
        self._cancel_timers()
        self.terminated.set()
        self.layer._forget(self)

    def _log(self, outcome: str) -> None:
        if self._logged:
            return
        self._logged = True
        ms = (time.monotonic() - self.started) * 1000
        self.layer.log.info(
            "SIP %s %s %s -> %s (%.1f ms, %d provisional) call-id=%s",
            self.layer.transport.name,
            self.method,
            self.request.uri,
            outcome,
            ms,
            self.provisionals,
            self.request.headers.get("Call-ID"),
        )

    def start(self) -> None:
        raise NotImplementedError

    def receive(self, resp: Response) -> None:
        raise NotImplementedError


class InviteClientTransaction(ClientTransaction):
    def __init__(self, layer: TransactionLayer, request: Request, dest: Addr) -> None:
        super().__init__(layer, request, dest)
        self.state = "calling"
        self.ack: Request | None = None
        # retransmitted 2xx (RFC 6026 Accepted state): the dialog re-sends its ACK
        self.on_2xx: Callable[[Response], None] | None = None

    def start(self) -> None:
        self._send(self.request)
        timers = self.layer.timers
        if not self.layer.transport.reliable:
            self._later(timers.t1, lambda: self._timer_a(timers.t1))
        self._later(timers.b, self._timer_b)

    def _timer_a(self, interval: float) -> None:
        if self.state != "calling":
            return
        self._send(self.request)
        nxt = interval * 2
        self._later(nxt, lambda: self._timer_a(nxt))

    def _timer_b(self) -> None:
        if self.state == "calling":
            self._log("timeout (Timer B)")
            self.error = TransactionTimeout(self.method, self.provisionals)
            self.terminate()

    def receive(self, resp: Response) -> None:
        status = resp.status
        if self.state in ("calling", "proceeding"):
            if status < 200:
                self.state = "proceeding"
                self.provisionals += 1
                self.responses.put_nowait(resp)
            elif status < 300:
                self.state = "accepted"
                self.final = resp
                self._log(resp.summary())
                self._cancel_timers()
                self.responses.put_nowait(resp)
                self._later(self.layer.timers.m, self.terminate)
            else:
                self.state = "completed"
                self.final = resp
                self._log(resp.summary())
                self._cancel_timers()
                self.ack = self._make_ack(resp)
                self._send(self.ack)
                self.responses.put_nowait(resp)
                wait = 0.0 if self.layer.transport.reliable else self.layer.timers.d
                self._later(wait, self.terminate)
        elif self.state == "accepted" and 200 <= status < 300:
            if self.on_2xx is not None:
                self.on_2xx(resp)
        elif self.state == "completed" and status >= 300 and self.ack is not None:
            self._send(self.ack)  # the final was retransmitted: our ACK got lost

    def _make_ack(self, resp: Response) -> Request:
        """ACK for a non-2xx final (RFC 3261 §17.1.1.3): same branch, R-URI and Route."""
        inv = self.request
        h = Headers()
        h.add("Via", str(inv.top_via))
        for route in inv.headers.get_all("Route"):
            h.add("Route", route)
        h.add("Max-Forwards", "70")
        h.add("From", inv.headers.get("From") or "")
        h.add("To", resp.headers.get("To") or inv.headers.get("To") or "")
        h.add("Call-ID", inv.headers.get("Call-ID") or "")
        h.add("CSeq", f"{inv.cseq.number} ACK")
        return Request(headers=h, method="ACK", uri=inv.uri)


class NonInviteClientTransaction(ClientTransaction):
    def __init__(self, layer: TransactionLayer, request: Request, dest: Addr) -> None:
        super().__init__(layer, request, dest)
        self.state = "trying"

    def start(self) -> None:
        self._send(self.request)
        timers = self.layer.timers
        if not self.layer.transport.reliable:
            self._later(timers.t1, lambda: self._timer_e(timers.t1))
        self._later(timers.f, self._timer_f)

    def _timer_e(self, interval: float) -> None:
        if self.state not in ("trying", "proceeding"):
            return
        self._send(self.request)
        t2 = self.layer.timers.t2
        nxt = t2 if self.state == "proceeding" else min(interval * 2, t2)
        self._later(nxt, lambda: self._timer_e(nxt))

    def _timer_f(self) -> None:
        if self.state in ("trying", "proceeding"):
            self._log("timeout (Timer F)")
            self.error = TransactionTimeout(self.method, self.provisionals)
            self.terminate()

    def receive(self, resp: Response) -> None:
        if self.state not in ("trying", "proceeding"):
            return  # retransmitted final: absorbed (Timer K)
        if resp.status < 200:
            self.state = "proceeding"
            self.provisionals += 1
            self.responses.put_nowait(resp)
            return
        self.state = "completed"
        self.final = resp
        self._log(resp.summary())
        self._cancel_timers()
        self.responses.put_nowait(resp)
        wait = 0.0 if self.layer.transport.reliable else self.layer.timers.t4
        self._later(wait, self.terminate)


RequestHandler = Callable[[Request, Addr], Response | None]


class TransactionLayer:
    """Matches responses to client transactions and answers incoming requests."""

    def __init__(
        self,
        transport: Transport,
        logger: logging.Logger,
        timers: Timers | None = None,
        on_request: RequestHandler | None = None,
    ) -> None:
        self.transport = transport
        self.log = logger
        self.timers = timers or Timers()
        self.on_request = on_request
        # a response that matches no live transaction (e.g. a late 2xx retransmission)
        self.on_stray_response: Callable[[Response], None] | None = None
        self._clients: dict[tuple[str, str], ClientTransaction] = {}
        self._server_cache: dict[tuple[str, str], Response] = {}
        transport.on_message = self._on_message
        transport.on_closed = self._on_closed

    # -- sending ------------------------------------------------------------------
    def via(self) -> Via:
        host, port = self.transport.local
        return Via(
            transport=self.transport.name,
            host=host,
            port=port,
            params={"branch": new_branch(), "rport": None},
        )

    def start_invite(self, request: Request, dest: Addr) -> InviteClientTransaction:
        tx = InviteClientTransaction(self, request, dest)
        self._register(tx)
        return tx

    def start_request(self, request: Request, dest: Addr) -> NonInviteClientTransaction:
        tx = NonInviteClientTransaction(self, request, dest)
        self._register(tx)
        return tx

    def _register(self, tx: ClientTransaction) -> None:
        if self.transport.closed:
            tx.fail(TransportError("use of closed network connection"))
            return
        self._clients[tx.key] = tx
        tx.start()

    async def send_raw(self, msg: Request | Response, dest: Addr) -> None:
        """Send outside any transaction (ACK for 2xx, responses)."""
        await self.transport.send(msg, dest)

    def _forget(self, tx: ClientTransaction) -> None:
        if self._clients.get(tx.key) is tx:
            del self._clients[tx.key]

    def close(self) -> None:
        for tx in list(self._clients.values()):
            tx.fail(TransportError("transport closed"))
        self.transport.close()

    # -- receiving ----------------------------------------------------------------
    def _on_closed(self, reason: str) -> None:
        for tx in list(self._clients.values()):
            tx.fail(TransportError(reason))

    def _on_message(self, msg: Request | Response, source: Addr) -> None:
        if isinstance(msg, Response):
            self._on_response(msg)
        else:
            self._on_incoming_request(msg, source)

    def _on_response(self, resp: Response) -> None:
        branch = resp.top_via.branch or ""
        tx = self._clients.get((branch, resp.cseq.method))
        if tx is not None:
            tx.receive(resp)
        elif self.on_stray_response is not None:
            self.on_stray_response(resp)
        else:
            self.log.debug("SIP stray response %s dropped", resp.summary())

    def _on_incoming_request(self, req: Request, source: Addr) -> None:
        branch = req.top_via.branch or ""
        key = (branch, req.method)
        cached = self._server_cache.get(key)
        if cached is not None:
            self._respond(cached, source)  # retransmission: same answer
            return
        if req.method == "ACK":
            return  # ACKs for our responses need no answer
        started = time.monotonic()
        resp: Response | None
        try:
            resp = self.on_request(req, source) if self.on_request else None
        except SipParseError as exc:
            resp = response_for(req, 400, f"Bad Request ({exc})", new_tag())
        if resp is None:
            resp = response_for(req, 481, "Call/Transaction Does Not Exist", new_tag())
        self.log.info(
            "SIP %s incoming %s %s -> %s (%.1f ms) call-id=%s",
            self.transport.name,
            req.method,
            req.uri,
            resp.summary(),
            (time.monotonic() - started) * 1000,
            req.headers.get("Call-ID"),
        )
        if req.method != "INVITE" or resp.status >= 300:
            self._server_cache[key] = resp
            linger = 0.0 if self.transport.reliable else self.timers.b
            asyncio.get_running_loop().call_later(linger, self._server_cache.pop, key, None)
        self._respond(resp, source)

    def _respond(self, resp: Response, source: Addr) -> None:
        # symmetric response (RFC 3581): back to where the request came from
        task = asyncio.ensure_future(self.transport.send(resp, source))
        task.add_done_callback(self._respond_done)

    def _respond_done(self, task: asyncio.Future[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.log.warning("SIP response not sent: %s", task.exception())
