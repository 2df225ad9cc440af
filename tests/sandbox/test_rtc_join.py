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


async def test_hidden_participants_are_never_announced(sandbox: Sandbox) -> None:
    # pkg/rtc/room.go: a hidden participant is left out of every ParticipantUpdate and
    # JoinResponse, yet RoomService lists it
    from livekit import api

    seen, ghost = rtc.Room(), rtc.Room()
    await seen.connect(sandbox.url, join_token(sandbox, "seen", ROOM))
    await ghost.connect(sandbox.url, join_token(sandbox, "ghost", ROOM, hidden=True))
    try:
        assert "seen" in ghost.remote_participants
        await asyncio.sleep(0.5)
        assert "ghost" not in seen.remote_participants
        lk = api.LiveKitAPI(sandbox.url, sandbox.api_key, sandbox.api_secret)
        try:
            res = await lk.room.list_participants(api.ListParticipantsRequest(room=ROOM))
            assert {p.identity for p in res.participants} == {"seen", "ghost"}
        finally:
            await lk.aclose()
    finally:
        await ghost.disconnect()
        await seen.disconnect()


async def test_without_can_publish_the_track_is_refused(sandbox: Sandbox) -> None:
    # pkg/rtc/participant.go AddTrack answers NOT_ALLOWED without permission: the SDK's
    # publish times out and nobody sees a track
    room = rtc.Room()
    await room.connect(sandbox.url, join_token(sandbox, "listener", ROOM, can_publish=False))
    try:
        source = rtc.AudioSource(48000, 1)
        track = rtc.LocalAudioTrack.create_audio_track("mic", source)
        with pytest.raises(Exception, match=r"(?i)timed out|timeout|publish"):
            await asyncio.wait_for(room.local_participant.publish_track(track), 15)
    finally:
        await room.disconnect()


async def test_removed_participant_is_told_to_leave_and_others_see_it_go(
    sandbox: Sandbox,
) -> None:
    # participant.go sendLeaveRequest (action DISCONNECT) on RemoveParticipant; the others
    # get the participant's last info with state DISCONNECTED
    from livekit import api

    stay, go = rtc.Room(), rtc.Room()
    await stay.connect(sandbox.url, join_token(sandbox, "stay", ROOM))
    await go.connect(sandbox.url, join_token(sandbox, "go", ROOM))
    left: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    disconnected: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    stay.on("participant_disconnected", lambda p: left.done() or left.set_result(p.identity))
    go.on("disconnected", lambda reason: disconnected.done() or disconnected.set_result(reason))
    try:
        await asyncio.sleep(0.3)
        assert "go" in stay.remote_participants
        lk = api.LiveKitAPI(sandbox.url, sandbox.api_key, sandbox.api_secret)
        try:
            await lk.room.remove_participant(api.RoomParticipantIdentity(room=ROOM, identity="go"))
        finally:
            await lk.aclose()
        assert await asyncio.wait_for(left, 10) == "go"
        reason = await asyncio.wait_for(disconnected, 10)
        assert reason == rtc.DisconnectReason.PARTICIPANT_REMOVED
    finally:
        await go.disconnect()
        await stay.disconnect()


async def test_without_auto_subscribe_only_chosen_tracks_are_subscribed(sandbox: Sandbox) -> None:
    # auto_subscribe=0 (pkg/service/rtcservice.go), then UpdateSubscription for one track
    speaker, listener = rtc.Room(), rtc.Room()
    await speaker.connect(sandbox.url, join_token(sandbox, "speaker", ROOM))
    await listener.connect(
        sandbox.url, join_token(sandbox, "listener", ROOM), rtc.RoomOptions(auto_subscribe=False)
    )
    published: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    subscribed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    listener.on("track_published", lambda pub, p: published.done() or published.set_result(pub))
    listener.on("track_subscribed", lambda t, pub, p: subscribed.done() or subscribed.set_result(t))
    stop = asyncio.Event()
    source = rtc.AudioSource(48000, 1)
    feeder = asyncio.ensure_future(tone_publisher(source, 500.0, stop))
    try:
        track = rtc.LocalAudioTrack.create_audio_track("voice", source)
        await speaker.local_participant.publish_track(track)
        publication = await asyncio.wait_for(published, 10)
        await asyncio.sleep(1.0)
        assert not subscribed.done()  # announced, not subscribed
        publication.set_subscribed(True)
        remote = await asyncio.wait_for(subscribed, 10)
        samples = await hear(remote, 1.0)
        assert dominant_hz(samples[-4000:]) == pytest.approx(500, abs=10)
    finally:
        stop.set()
        await feeder
        await listener.disconnect()
        await speaker.disconnect()
