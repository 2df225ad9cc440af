"""The official real-time SDK (``livekit`` 1.2, protocol 18) against the sandbox's
``/rtc`` subset: join, see each other, publish, subscribe, hear, leave.

Sources imitated: livekit/livekit pkg/service/rtcservice.go (routes, validation, the
plain 404 of a non-upgrade and of /rtc/v1 on servers without single-PC mode),
pkg/service/utils.go ValidateConnectRequest, pkg/rtc (join response, dual peer
connections, trickle, ping/pong, leave), and the SDK side: rust-sdks livekit-api
signal_client (fallback from /rtc/v1 to /rtc on 404 only), livekit room/mod.rs
(stream id "<participant sid>|<track sid>").
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.fixtures.sandbox import Sandbox, make_token, post_raw
from tests.sandbox.rtc_netns import _inside_rtc_netns, rtc_netns  # noqa: F401

NEEDS_EXTRA = "needs the audio extra: pip install 'sipctl[audio]'"
rtc = pytest.importorskip("livekit.rtc", reason=NEEDS_EXTRA)
pytest.importorskip("aiortc", reason=NEEDS_EXTRA)

from tests.sandbox.rtc_sdk import dominant_hz, hear, join_token, tone_publisher  # noqa: E402

ROOM = "rtc-room"


async def test_rtc_v1_is_a_plain_404_and_validate_checks_the_join_grant(sandbox: Sandbox) -> None:
    status, _, body = await post_raw(sandbox, "/rtc/v1", b"", method="GET")
    assert (status, body) == (404, b"404 page not found\n")
    ok = join_token(sandbox, "alice", ROOM)
    assert (await post_raw(sandbox, "/rtc/validate", b"", method="GET", token=ok))[::2] == (
        200,
        b"success",
    )
    no_join = make_token(sandbox, room_list=True)
    status, _, body = await post_raw(sandbox, "/rtc/validate", b"", method="GET", token=no_join)
    assert (status, body) == (401, b"no permissions to access the room")
    status, _, body = await post_raw(sandbox, "/rtc/validate", b"", method="GET")
    assert (status, body) == (401, b"no permissions to access the room")
    # not a WebSocket upgrade: RTCService.serve answers a bare 404
    status, _, _ = await post_raw(sandbox, "/rtc", b"", method="GET", token=ok)
    assert status == 404


async def test_two_sdk_participants_hear_each_other(sandbox: Sandbox) -> None:
    from livekit import api

    alice, bob = rtc.Room(), rtc.Room()
    started = time.monotonic()
    await alice.connect(sandbox.url, join_token(sandbox, "alice", ROOM))
    join_s = time.monotonic() - started
    await bob.connect(sandbox.url, join_token(sandbox, "bob", ROOM))
    try:
        assert "alice" in bob.remote_participants
        source = rtc.AudioSource(48000, 1)
        track = rtc.LocalAudioTrack.create_audio_track("tone", source)
        subscribed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        @bob.on("track_subscribed")
        def _on_track(track: Any, publication: Any, participant: Any) -> None:
            if not subscribed.done():
                subscribed.set_result((track, publication, participant))

        stop = asyncio.Event()
        feeder = asyncio.ensure_future(tone_publisher(source, 700.0, stop))
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        pub = await alice.local_participant.publish_track(track, options)
        assert pub.sid.startswith("TR_")
        remote, publication, participant = await asyncio.wait_for(subscribed, 10)
        assert participant.identity == "alice"
        assert publication.sid == pub.sid
        samples = await hear(remote, 1.5)
        stop.set()
        await feeder
        assert dominant_hz(samples[-4000:]) == pytest.approx(700, abs=10)
        # RoomService sees both, and alice's track
        lk = api.LiveKitAPI(sandbox.url, sandbox.api_key, sandbox.api_secret)
        try:
            res = await lk.room.list_participants(api.ListParticipantsRequest(room=ROOM))
            assert sorted(p.identity for p in res.participants) == ["alice", "bob"]
        finally:
            await lk.aclose()
    finally:
        await bob.disconnect()
        await alice.disconnect()
    print(f"join took {join_s * 1000:.0f} ms")
