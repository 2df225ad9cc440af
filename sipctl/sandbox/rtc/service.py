"""``/rtc`` routes: token and join checks, then one :class:`RtcSession` per WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging

import jwt
from aiohttp import web

from sipctl.sandbox.auth import AuthFailure, Verifier
from sipctl.sandbox.bridge import Bridge
from sipctl.sandbox.rooms import RoomRegistry
from sipctl.sandbox.rtc import loopback
from sipctl.sandbox.rtc.grants import JoinGrant, JoinRefused, check_join
from sipctl.sandbox.rtc.hub import RtcHub
from sipctl.sandbox.rtc.session import RtcSession
from sipctl.sandbox.rtc.sip_leg import SipLegs

NOT_FOUND = "404 page not found\n"


def _plain(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain")


def _flag(value: str | None, default: bool) -> bool:
    # pkg/service/utils.go boolValue: "1" or "true"
    return default if value is None else value in ("1", "true")


class RtcService:
    def __init__(
        self,
        rooms: RoomRegistry,
        verifier: Verifier,
        bridge: object,
        logger: logging.Logger,
    ) -> None:
        loopback.install()
        self.rooms = rooms
        self.verifier = verifier
        self.log = logger
        self.hub = RtcHub(rooms, logger)
        self.sessions: set[RtcSession] = set()
        if isinstance(bridge, Bridge):
            self.legs = SipLegs(self.hub, bridge, logger)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/rtc", self.connect)
        app.router.add_route("*", "/rtc/validate", self.validate)
        app.router.add_route("*", "/rtc/v1", self.not_found)
        app.router.add_route("*", "/rtc/v1/validate", self.not_found)
        app.on_shutdown.append(self._shutdown)

    async def not_found(self, request: web.Request) -> web.StreamResponse:
        self.log.info("%s %s 404 (no single peer connection mode)", request.method, request.path)
        return _plain(404, NOT_FOUND)

    def _join(self, request: web.Request) -> JoinGrant:
        """The auth middleware (401 plain text), then ValidateConnectRequest."""
        try:
            grants = self.verifier.from_headers(
                request.headers.get("Authorization"), request.query.get("access_token")
            )
        except AuthFailure as e:
            raise JoinRefused(401, e.text) from None
        grant = check_join(grants)
        # name, metadata and attributes ride in the token (protocol auth ClaimGrants)
        token = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        claims = jwt.decode(
            token or request.query.get("access_token", ""), options={"verify_signature": False}
        )
        attributes = claims.get("attributes")
        return dataclasses.replace(
            grant,
            name=str(claims.get("name") or ""),
            metadata=str(claims.get("metadata") or ""),
            attributes={str(k): str(v) for k, v in attributes.items()}
            if isinstance(attributes, dict)
            else {},
        )

    async def validate(self, request: web.Request) -> web.StreamResponse:
        try:
            self._join(request)
        except JoinRefused as e:
            self.log.info("%s %s %d %s", request.method, request.path, e.status, e.text)
            return _plain(e.status, e.text)
        return _plain(200, "success")

    async def connect(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(protocols=(), heartbeat=None)
        if not ws.can_prepare(request).ok:
            return _plain(404, NOT_FOUND)  # RTCService.serve: not a WebSocket upgrade
        try:
            grant = self._join(request)
        except JoinRefused as e:
            self.log.info("%s %s %d %s", request.method, request.path, e.status, e.text)
            return _plain(e.status, e.text)
        await ws.prepare(request)
        session = RtcSession(
            ws,
            grant,
            self.hub,
            self.rooms,
            auto_subscribe=_flag(request.query.get("auto_subscribe"), True),
            logger=self.log,
        )
        self.log.info(
            "rtc: %s joins room %s (sdk %s %s, protocol %s%s)",
            grant.identity,
            grant.room,
            request.query.get("sdk", "?"),
            request.query.get("version", "?"),
            request.query.get("protocol", "?"),
            ", hidden" if grant.hidden else "",
        )
        self.sessions.add(session)
        try:
            await session.run()
        finally:
            self.sessions.discard(session)
        return ws

    async def _shutdown(self, app: web.Application) -> None:
        for session in list(self.sessions):
            with contextlib.suppress(Exception):
                await session.remove()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._drained(), 5)
        await self.hub.close()

    async def _drained(self) -> None:
        while self.sessions:
            await asyncio.sleep(0.05)
