"""Without aiortc (the audio extra), every ``/rtc`` path is a plain 404 and the sandbox
logs how to install it; the Twirp API is unaffected."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import asyncio, logging, sys
sys.modules["aiortc"] = None  # as in an install without the audio extra
from aiohttp.test_utils import TestClient, TestServer
from sipctl.sandbox.server import SandboxServer, ServerConfig

async def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    server = SandboxServer(ServerConfig())
    async with TestClient(TestServer(server.make_app())) as client:
        for path in ("/rtc", "/rtc/v1", "/rtc/validate"):
            resp = await client.get(path)
            print(path, resp.status, repr(await resp.text()))
        resp = await client.post("/twirp/livekit.RoomService/ListRooms", json={})
        print("twirp", resp.status)

asyncio.run(main())
"""


def test_rtc_without_aiortc_is_404_with_the_install_hint() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60
    ).stdout
    for path in ("/rtc", "/rtc/v1", "/rtc/validate"):
        assert f"{path} 404 '404 page not found\\n'" in out
    assert "pip install 'sipctl[audio]'" in out
    assert "twirp 401" in out  # the API still answers (no token here)
