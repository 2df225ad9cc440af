"""The ``/rtc`` signalling on the wire, without an SDK: what livekit-server sends and how
it answers (pkg/rtc/room.go Join -> JoinResponse; transportmanager.go: the server offers
the subscriber transport first; participant_signal.go: ping_req -> pong_resp; a
LeaveRequest ends the session), and that the sandbox offers loopback candidates only."""

from __future__ import annotations

import re
import time

import aiohttp
import jwt
import pytest
from livekit import api
from livekit.protocol import models, rtc

from tests.fixtures.sandbox import Sandbox

pytest.importorskip("aiortc", reason="needs the audio extra: pip install 'sipctl[audio]'")

ROOM = "raw-room"


def token(sb: Sandbox, identity: str) -> str:
    return (
        api.AccessToken(sb.api_key, sb.api_secret)
        .with_identity(identity)
        .with_attributes({"role": "probe"})
        .with_grants(api.VideoGrants(room_join=True, room=ROOM))
        .to_jwt()
    )


async def receive(ws: aiohttp.ClientWebSocketResponse) -> rtc.SignalResponse:
    return rtc.SignalResponse.FromString(await ws.receive_bytes(timeout=10))


async def test_join_offer_ping_and_leave(sandbox: Sandbox) -> None:
    url = sandbox.url.replace("http://", "ws://") + "/rtc?protocol=16&auto_subscribe=1"
    headers = {"Authorization": f"Bearer {token(sandbox, 'raw')}"}
    async with aiohttp.ClientSession() as http, http.ws_connect(url, headers=headers) as ws:
        join = (await receive(ws)).join
        assert join.room.name == ROOM and join.room.sid.startswith("RM_")
        assert join.participant.identity == "raw" and join.participant.sid.startswith("PA_")
        assert dict(join.participant.attributes) == {"role": "probe"}
        assert join.subscriber_primary
        assert (join.ping_interval, join.ping_timeout) == (5, 15)
        assert list(join.other_participants) == []

        offer = (await receive(ws)).offer
        assert offer.type == "offer" and offer.id == 1
        assert "m=application" in offer.sdp  # the server's data channels
        hosts = set(re.findall(r"a=candidate:\S+ \d+ \w+ \d+ (\S+) ", offer.sdp))
        assert hosts == {"127.0.0.1"}, hosts  # loopback only, nothing else offered

        await ws.send_bytes(
            rtc.SignalRequest(ping_req=rtc.Ping(timestamp=1234)).SerializeToString()
        )
        pong = (await receive(ws)).pong_resp
        assert pong.last_ping_timestamp == 1234 and pong.timestamp > 0

        lk = api.LiveKitAPI(sandbox.url, sandbox.api_key, sandbox.api_secret)
        try:
            listed = await lk.room.list_participants(api.ListParticipantsRequest(room=ROOM))
            assert [p.identity for p in listed.participants] == ["raw"]
            leave = rtc.LeaveRequest(reason=models.DisconnectReason.CLIENT_INITIATED)
            await ws.send_bytes(rtc.SignalRequest(leave=leave).SerializeToString())
            msg = await ws.receive(timeout=10)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            listed = await lk.room.list_participants(api.ListParticipantsRequest(room=ROOM))
            assert list(listed.participants) == []
        finally:
            await lk.aclose()


async def test_bad_tokens_are_refused_before_the_upgrade(sandbox: Sandbox) -> None:
    # pkg/service/rtcservice.go serve: validation errors are plain HTTP answers
    url = sandbox.url.replace("http://", "ws://") + "/rtc"
    claims = {"iss": sandbox.api_key, "exp": int(time.time()) + 60}
    claims["video"] = {"roomJoin": True, "room": ROOM}  # no "sub": no identity
    no_identity = jwt.encode(claims, sandbox.api_secret, algorithm="HS256")
    async with aiohttp.ClientSession() as http:
        for headers, status in (
            ({}, 401),
            ({"Authorization": "Bearer nonsense"}, 401),
            ({"Authorization": f"Bearer {no_identity}"}, 400),
        ):
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await http.ws_connect(url, headers=headers)
            assert err.value.status == status
