"""The sandbox's real-time subset: enough of LiveKit's ``/rtc`` for the official SDKs to
join a room, see the SIP participant, hear it and be heard by it (for audio checks).

Routes, as livekit/livekit pkg/service/rtcservice.go SetupRoutes registers them:

* ``/rtc`` — the WebSocket signalling (dual peer connection mode, see ``session``);
  a request that is not a WebSocket upgrade gets a plain 404 (RTCService.serve).
* ``/rtc/validate`` — the same checks without joining: 200 "success" or the error text
  with its status (RTCService.v0Validate, HandleError).
* ``/rtc/v1`` and ``/rtc/v1/validate`` — a plain 404, as a server from before the
  single peer connection mode answers: the SDKs then fall back to ``/rtc`` (rust-sdks
  livekit-api signal_client SignalInner::connect falls back on a 404 only).

Media needs aiortc (``pip install 'sipctl[audio]'``); without it every ``/rtc`` path is a
plain 404 and the server logs how to install it.
"""

from __future__ import annotations

import logging
from typing import Protocol

from aiohttp import web

from sipctl.sandbox.auth import Verifier
from sipctl.sandbox.rooms import RoomRegistry


class ServerView(Protocol):
    """What the real-time side takes from the server (a protocol: rtc and the server
    must not import each other)."""

    @property
    def log(self) -> logging.Logger: ...
    @property
    def rooms(self) -> RoomRegistry: ...
    @property
    def verifier(self) -> Verifier: ...
    @property
    def bridge(self) -> object: ...


INSTALL_HINT = "pip install 'sipctl[audio]'"
NOT_FOUND = "404 page not found\n"  # Go's http.NotFound body


def _not_found() -> web.Response:
    return web.Response(status=404, text=NOT_FOUND, content_type="text/plain")


def add_routes(app: web.Application, server: ServerView) -> None:
    """Register ``/rtc*`` on the sandbox's app (before its catch-all route)."""
    try:
        from sipctl.sandbox.rtc.service import RtcService
    except ImportError as e:
        missing = e.name or "aiortc"

        async def unavailable(request: web.Request) -> web.StreamResponse:
            server.log.warning(
                "%s %s: real-time rooms need %s (%s); answering 404",
                request.method,
                request.path,
                missing,
                INSTALL_HINT,
            )
            return _not_found()

        for path in ("/rtc", "/rtc/validate", "/rtc/v1", "/rtc/v1/validate"):
            app.router.add_route("*", path, unavailable)
        return
    RtcService(server.rooms, server.verifier, server.bridge, server.log).add_routes(app)


__all__ = ["INSTALL_HINT", "add_routes"]
