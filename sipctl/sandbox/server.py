"""The sandbox HTTP server: LiveKit's Twirp API plus a loopback admin API for tests.

Request path, as in livekit-server: auth middleware (plain-text 401s) -> Go mux (``/``
health check, the Twirp services, 404 otherwise) -> Twirp routing -> body decoding ->
handler (grant checks live in handlers). ``/_sandbox/*`` is the sandbox's own admin API
(no token, loopback clients only): fault injection, a state dump, reset, flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import struct
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from livekit.protocol import agent_dispatch as ad_pb
from livekit.protocol import room as room_pb
from livekit.protocol import sip as sip_pb

from sipctl.sandbox import rtc, twirp
from sipctl.sandbox.agent_dispatch_service import AgentDispatchService
from sipctl.sandbox.auth import AuthFailure, Grants, Verifier
from sipctl.sandbox.dispatch import Decision, InboundCall, RoutingError, route
from sipctl.sandbox.errors import TwirpError
from sipctl.sandbox.faults import (
    HTML_BODY,
    FaultConfig,
    FaultConfigError,
    Faults,
    parse_config,
    spoil,
)
from sipctl.sandbox.room_service import (
    DEFAULT_DEPARTURE_TIMEOUT,
    DEFAULT_EMPTY_TIMEOUT,
    RoomService,
)
from sipctl.sandbox.rooms import RoomRegistry
from sipctl.sandbox.sip_service import BridgeLike, Handler, SipService
from sipctl.sandbox.store import SipStore
from sipctl.sandbox.validation import go_quote

LOG = logging.getLogger("sipctl.sandbox")
PREFIX = "/twirp"
# Twirp error code of the answer, for the request log line.
TWIRP_CODE = web.RequestKey("twirp_code", str)
ADMIN = "/_sandbox/"
SHUTDOWN_S = 5.0  # grace for in-flight requests on shutdown


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 7880
    api_key: str = "devkey"
    api_secret: str = "secret"
    data_dir: Path | None = None
    mask_secrets: bool = False
    faults: FaultConfig = field(default_factory=FaultConfig)
    # the SIP bridge's media timeouts (livekit/sip config media_timeout, media_timeout_initial)
    media_timeout: float = 15.0
    media_timeout_initial: float = 30.0
    # inbound SIP (UDP and TCP) on this port; None: no SIP listener, 0: a free port
    sip_port: int | None = None
    # None means sipctl.sandbox.bridge.Bridge (the real SIP user agent).
    bridge_factory: Callable[[RoomRegistry, ServerConfig, logging.Logger], BridgeLike] | None = None


@dataclass(frozen=True)
class _Method:
    name: str
    request: type[Message]
    handler: Handler | None


class _Dropped(Exception):
    """The connection was reset on purpose; nothing is answered."""


def _load_bridge_factory() -> (
    Callable[[RoomRegistry, ServerConfig, logging.Logger], BridgeLike] | None
):
    try:
        from sipctl.sandbox.bridge import Bridge
    except ImportError as e:
        # Without a bridge, CreateSIPParticipant answers as livekit-server without
        # livekit-sip does ("no response from servers").
        LOG.warning("SIP bridge unavailable, calls will fail: %s", e)
        return None

    def factory(rooms: RoomRegistry, config: ServerConfig, log: logging.Logger) -> BridgeLike:
        return Bridge(
            rooms,
            config.host,
            log,
            media_timeout=config.media_timeout,
            media_timeout_initial=config.media_timeout_initial,
        )

    return factory


class SandboxServer:
    def __init__(self, config: ServerConfig, logger: logging.Logger = LOG) -> None:
        self.config = config
        self.log = logger
        self.store = SipStore(config.data_dir, logger)
        self.rooms = RoomRegistry()
        self.faults = Faults(config.faults)
        self.verifier = Verifier({config.api_key: config.api_secret})
        factory = config.bridge_factory or _load_bridge_factory()
        self.bridge = factory(self.rooms, config, logger) if factory else None
        self.sip = SipService(
            self.store, self.bridge, mask_secrets=config.mask_secrets, logger=logger
        )
        self.room_service = RoomService(self.rooms)
        self.agent_dispatch = AgentDispatchService(self.rooms)
        self.inbound: Any = None
        if config.sip_port is not None:
            # deferred: inbound needs the SIP bridge, which may be unavailable (above)
            from sipctl.sandbox.inbound import InboundServer

            self.inbound = InboundServer(
                self.rooms,
                self.store.inbound.values,
                self.store.dispatch.values,
                logger,
                host=config.host,
                media_timeout=config.media_timeout,
                media_timeout_initial=config.media_timeout_initial,
                on_room_created=self._room_for_call,
            )
        self.services = {
            "livekit.SIP": _methods(sip_pb.DESCRIPTOR.services_by_name["SIP"], self.sip.handlers),
            "livekit.RoomService": _methods(
                room_pb.DESCRIPTOR.services_by_name["RoomService"], self.room_service.handlers
            ),
            "livekit.AgentDispatchService": _methods(
                ad_pb.DESCRIPTOR.services_by_name["AgentDispatchService"],
                self.agent_dispatch.handlers,
            ),
        }
        self.requests_by_method: Counter[str] = Counter()
        self.stop_requested = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.port = config.port
        self._reaper: asyncio.Future[None] | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        rtc.add_routes(app, self)  # /rtc*: real-time rooms (sipctl.sandbox.rtc)
        app.router.add_route("*", "/{tail:.*}", self._entry)
        return app

    async def start(self) -> None:
        self.store.load()
        self._runner = web.AppRunner(
            self.make_app(), access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_S
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port, reuse_address=True)
        await site.start()
        self._site = site
        addresses = self._runner.addresses
        if addresses:
            self.port = addresses[0][1]
        self._reaper = asyncio.ensure_future(self._close_idle_rooms())
        if self.inbound is not None and self.config.sip_port is not None:
            sip_port = await self.inbound.start(self.config.sip_port)
            self.log.info("sandbox SIP listening on %s:%d (udp, tcp)", self.config.host, sip_port)
            print(f"sip={self.config.host}:{sip_port}", flush=True)
        self.log.info(
            "sandbox listening on http://%s:%d (data dir: %s)",
            self.config.host,
            self.port,
            self.config.data_dir or "memory only",
        )

    async def close(self) -> None:
        """Stop accepting, hang up calls (a CreateSIPParticipant waiting for an answer then
        fails), let in-flight requests finish, flush the store."""
        if self._site is not None:
            await self._site.stop()
            self._site = None
        if self._reaper is not None:
            self._reaper.cancel()
        if self.inbound is not None:
            await self.inbound.close()
        if self.bridge is not None:
            try:
                await self.bridge.close()
            except Exception as e:
                self.log.error("bridge close failed: %s: %s", type(e).__name__, e)
        await self.rooms.hang_up_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.store.close()

    # --- entry point ---------------------------------------------------------------------

    async def _entry(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        label = f"{request.method} {request.path}"
        try:
            if request.path.startswith(ADMIN):
                resp = await self._admin(request)
            else:
                resp, label = await self._api(request, label)
        except _Dropped:
            self.log.info("%s connection reset (fault)", label)
            return web.Response(status=499)
        except Exception as e:  # never a traceback for a request
            self.log.error("%s internal error: %s: %s", label, type(e).__name__, e)
            request[TWIRP_CODE] = "internal"
            resp = _twirp_error(TwirpError("internal", f"internal error: {e}"))
        code = request.get(TWIRP_CODE, "")
        self.log.info(
            "%s %d%s %.1fms",
            label,
            resp.status,
            f" {code}" if code else "",
            (time.perf_counter() - started) * 1000,
        )
        return resp

    async def _api(self, request: web.Request, label: str) -> tuple[web.StreamResponse, str]:
        try:
            grants = self.verifier.from_headers(
                request.headers.get("Authorization"), request.query.get("access_token")
            )
        except AuthFailure as e:
            # http.Error-like plain text, as the Go middleware writes it.
            return web.Response(status=401, text=e.text, content_type="text/plain"), label
        path = request.path
        for service in self.services:
            if path.startswith(f"{PREFIX}/{service}/"):
                method = path.rsplit("/", 1)[-1]
                return await self._twirp(request, service, grants), f"twirp {method}"
        if path == "/":
            return web.Response(text="OK"), label
        # Go's http.NotFound, as livekit-server's mux answers unknown paths.
        headers = {"X-Content-Type-Options": "nosniff"}
        return web.Response(status=404, text="404 page not found\n", headers=headers), label

    # --- twirp ---------------------------------------------------------------------------

    async def _twirp(
        self, request: web.Request, service: str, grants: Grants | None
    ) -> web.StreamResponse:
        if not self.faults.count_request():
            _reset(request)  # past stop_after: refuse like a server that is going away
        if self.faults.stop_reached():
            asyncio.get_running_loop().call_later(0.05, self.stop_requested.set)
        try:
            kind, method, body = await self._route(request, service)
            self.requests_by_method[method.name] += 1
            return await self._call(request, kind, method, body, grants)
        except TwirpError as e:
            request[TWIRP_CODE] = e.code
            return _twirp_error(e)

    async def _route(self, request: web.Request, service: str) -> tuple[str, _Method, bytes]:
        path = request.path
        if request.method != "POST":
            raise twirp.bad_route(
                f"unsupported method {go_quote(request.method)} (only POST is allowed)",
                request.method,
                path,
            )
        prefix, pkg_service, name = twirp.parse_path(path)
        if pkg_service != service:
            raise twirp.bad_route(f"no handler for path {go_quote(path)}", request.method, path)
        if prefix != PREFIX:
            raise twirp.bad_route(
                f"invalid path prefix {go_quote(prefix)}, expected {go_quote(PREFIX)}, "
                f"on path {go_quote(path)}",
                request.method,
                path,
            )
        method = self.services[service].get(name)
        if method is None:
            raise twirp.bad_route(f"no handler for path {go_quote(path)}", request.method, path)
        header = request.headers.get("Content-Type", "")
        kind = twirp.content_kind(header)
        if kind is None:
            raise twirp.bad_route(
                f"unexpected Content-Type: {go_quote(header)}", request.method, path
            )
        return kind, method, await request.read()

    async def _call(
        self, request: web.Request, kind: str, method: _Method, body: bytes, grants: Grants | None
    ) -> web.StreamResponse:
        msg = method.request()
        twirp.decode_request(kind, body, msg)
        faults = self.faults
        if faults.config.latency_ms > 0:
            await asyncio.sleep(faults.config.latency_ms / 1000)
        if faults.reset_connection():
            _reset(request)
        rule = faults.error(method.name, "before")
        if rule is not None:
            raise TwirpError(rule.code, rule.msg)
        junk = faults.garbage(method.name, after=False)
        if junk is not None:
            return _junk(kind, junk.kind, faults)
        if method.handler is None:
            raise TwirpError("unimplemented", f"{method.name} is not implemented by the sandbox")
        call = twirp.Call(method=method.name, grants=grants, timeout_s=_timeout(request))
        answer = await method.handler(call, msg)
        rule = faults.error(method.name, "after")
        if rule is not None:
            raise TwirpError(rule.code, rule.msg)
        bad = faults.bad_answer(method.name)
        if bad is not None:
            spoiled = type(answer)()
            spoiled.CopyFrom(answer)
            spoil(spoiled, bad.kind)
            answer = spoiled
        data = twirp.encode_response(kind, answer)
        if faults.garbage(method.name, after=True) is not None:
            data = data[: len(data) // 2]
        return web.Response(body=data, content_type=twirp.content_type(kind))

    # --- admin ---------------------------------------------------------------------------

    async def _admin(self, request: web.Request) -> web.StreamResponse:
        if not _is_loopback(request.remote):
            return web.json_response({"error": "admin API is loopback-only"}, status=403)
        route = (request.method, request.path[len(ADMIN) :].rstrip("/"))
        handlers: dict[tuple[str, str], Callable[[web.Request], Awaitable[web.StreamResponse]]] = {
            ("GET", "ready"): self._admin_ready,
            ("GET", "faults"): self._admin_get_faults,
            ("POST", "faults"): self._admin_set_faults,
            ("DELETE", "faults"): self._admin_clear_faults,
            ("GET", "state"): self._admin_state,
            ("POST", "reset"): self._admin_reset,
            ("POST", "flush"): self._admin_flush,
            ("POST", "subscribe"): self._admin_subscribe,
            ("POST", "route"): self._admin_route,
        }
        handler = handlers.get(route)
        if handler is None:
            return web.json_response(
                {"error": f"no admin route {route[0]} {request.path}"}, status=404
            )
        return await handler(request)

    async def _admin_ready(self, request: web.Request) -> web.StreamResponse:
        # The pid lets a launcher tell its own process from another one on a reused port.
        sip_port = self.inbound.port if self.inbound is not None else None
        return web.json_response(
            {"ready": True, "port": self.port, "pid": os.getpid(), "sip_port": sip_port}
        )

    async def _admin_subscribe(self, request: web.Request) -> web.StreamResponse:
        """Stand in for an agent subscribing to an inbound call's track: it is answered."""
        body = json.loads(await request.read() or b"{}")
        ok = self.inbound is not None and self.inbound.subscribed(
            str(body.get("room", "")), str(body.get("identity", ""))
        )
        return web.json_response({"subscribed": ok}, status=200 if ok else 404)

    async def _admin_route(self, request: web.Request) -> web.StreamResponse:
        """What LiveKit's server decides for an inbound call (EvaluateSIPDispatchRules),
        without SIP: ``{"to", "from", "from_host", "source_ip", "pin", "no_pin"}``."""
        try:
            body = json.loads(await request.read() or b"{}")
            call = InboundCall(
                to_user=str(body["to"]),
                from_user=str(body.get("from", "")),
                from_host=str(body.get("from_host", "")),
                source_ip=str(body.get("source_ip", "")),
                call_id="SCL_route",
            )
        except (ValueError, KeyError, TypeError) as e:
            return web.json_response({"error": f"bad request: {e}"}, status=400)
        try:
            d = route(
                self.store.inbound.values(),
                self.store.dispatch.values(),
                call,
                pin=str(body.get("pin", "")),
                no_pin=bool(body.get("no_pin", False)),
            )
        except RoutingError as e:
            return web.json_response({"result": "error", "code": e.code, "error": e.msg})
        rule = d.rule
        return web.json_response(
            {
                "result": d.result,
                "trunk_id": d.trunk.sip_trunk_id if d.trunk else None,
                "trunk_name": d.trunk.name if d.trunk else None,
                "rule_id": rule.sip_dispatch_rule_id if rule else None,
                "rule_name": rule.name if rule else None,
                "room_name": d.room_name,
                "identity": d.identity,
                "attributes": d.attributes,
                "agents": [a.agent_name for a in rule.room_config.agents] if rule else [],
                "reason": d.reason,
            }
        )

    async def _close_idle_rooms(self) -> None:
        # the room manager's periodic CloseIfEmpty (the sandbox checks twice a second)
        while True:
            await asyncio.sleep(0.5)
            for name in self.rooms.close_idle():
                self.log.info("room %s closed (idle)", name)

    def _room_for_call(self, name: str, decision: Decision) -> None:
        """The SIP participant's token carries the rule's room_config: the server creates
        the room with it (and its agent dispatches) when the participant joins."""
        rule = decision.rule
        cfg = rule.room_config if rule is not None and rule.HasField("room_config") else None
        room = self.rooms.get_or_create(
            name,
            empty_timeout=(cfg.empty_timeout if cfg else 0) or DEFAULT_EMPTY_TIMEOUT,
            departure_timeout=(cfg.departure_timeout if cfg else 0) or DEFAULT_DEPARTURE_TIMEOUT,
            max_participants=cfg.max_participants if cfg else 0,
            metadata=cfg.metadata if cfg else "",
        )
        if cfg is not None:
            room.dispatch_agents(list(cfg.agents))

    async def _admin_get_faults(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.faults.config.to_json())

    async def _admin_set_faults(self, request: web.Request) -> web.StreamResponse:
        try:
            config = parse_config(json.loads(await request.read() or b"{}"))
        except (ValueError, FaultConfigError) as e:
            return web.json_response({"error": str(e)}, status=400)
        self.faults.set(config)
        self.log.info("faults set: %s", json.dumps(config.to_json()))
        return web.json_response(config.to_json())

    async def _admin_clear_faults(self, request: web.Request) -> web.StreamResponse:
        self.faults.clear()
        self.log.info("faults cleared")
        return web.json_response(self.faults.config.to_json())

    async def _admin_state(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.state())

    async def _admin_reset(self, request: web.Request) -> web.StreamResponse:
        await self.rooms.hang_up_all()
        self.store.clear()
        self.faults.clear()
        self.requests_by_method.clear()
        self.log.info("state reset")
        return web.json_response(self.state())

    async def _admin_flush(self, request: web.Request) -> web.StreamResponse:
        await self.store.flush()
        return web.json_response({"flushed": True})

    def state(self) -> dict[str, Any]:
        """Everything the sandbox holds. Passwords are included on purpose: this is
        loopback-only test tooling, and tests must see what was really stored."""

        def dump(msg: Message) -> dict[str, Any]:
            out: dict[str, Any] = json_format.MessageToDict(
                msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
            )
            return out

        return {
            "sip_outbound_trunks": [dump(t) for t in self.store.outbound.values()],
            "sip_inbound_trunks": [dump(t) for t in self.store.inbound.values()],
            "sip_dispatch_rules": [dump(r) for r in self.store.dispatch.values()],
            "rooms": [
                {
                    **dump(r.to_proto()),
                    "participants": [dump(p.to_proto()) for p in r.participants.values()],
                }
                for r in sorted(self.rooms.rooms.values(), key=lambda r: r.name)
            ],
            "twirp_requests": self.faults.twirp_requests,
            "requests_by_method": dict(self.requests_by_method),
            "faults": self.faults.config.to_json(),
            "mask_secrets": self.config.mask_secrets,
            "bridge": self.bridge is not None,
            "calls": self._active_calls(),
        }

    def _active_calls(self) -> list[Any]:
        inbound = self.inbound.active_calls() if self.inbound is not None else []
        return inbound + self._outbound_calls()

    def _outbound_calls(self) -> list[Any]:
        active = getattr(self.bridge, "active_calls", None)
        calls: list[Any] = active() if callable(active) else []
        return calls


def _methods(service: Any, handlers: dict[str, Handler]) -> dict[str, _Method]:
    return {
        m.name: _Method(m.name, GetMessageClass(m.input_type), handlers.get(m.name))
        for m in service.methods
    }


def _twirp_error(err: TwirpError) -> web.Response:
    return web.Response(status=err.http_status, body=twirp.error_body(err), content_type=twirp.JSON)


def _junk(kind: str, junk: str, faults: Faults) -> web.Response:
    if junk == "html":
        return web.Response(status=502, body=HTML_BODY, content_type="text/html")
    if junk == "empty":
        return web.Response(body=b"", content_type=twirp.content_type(kind))
    return web.Response(body=faults.garbage_bytes(), content_type=twirp.content_type(kind))


def _timeout(request: web.Request) -> float | None:
    raw = request.headers.get("X-Twirp-Timeout-Ms")
    try:
        return int(raw) / 1000 if raw else None
    except ValueError:
        return None


def _is_loopback(remote: str | None) -> bool:
    return remote is not None and (remote.startswith("127.") or remote in ("::1", "localhost"))


def _reset(request: web.Request) -> None:
    """Abort the TCP connection with RST, as a crashing server or proxy would."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    raise _Dropped()
