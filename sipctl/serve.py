"""``--serve HOST:PORT``: a small HTTP endpoint (``/metrics``, ``/healthz``, ...).

It serves whatever pages its caller hands it, each a function returning the status, the
body and its content type; it knows nothing about checks or formats.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aiohttp import web

from sipctl.errors import SipctlError

# status, body, content type
Page = Callable[[], tuple[int, bytes, str]]


async def serve(host: str, port: int, pages: Mapping[str, Page]) -> web.AppRunner:
    """Start serving ``pages`` (path -> page); the caller cleans up the returned runner."""

    def handler(page: Page) -> Callable[[web.Request], object]:
        async def handle(_: web.Request) -> web.Response:
            status, body, content_type = page()
            resp = web.Response(status=status, body=body)
            resp.headers["Content-Type"] = content_type
            return resp

        return handle

    app = web.Application()
    for path, page in pages.items():
        app.router.add_get(path, handler(page))  # type: ignore[arg-type]
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise SipctlError(f"cannot listen on {host}:{port} for --serve: {exc.strerror}") from None
    return runner
