"""Listening to a probe call in its LiveKit room with the official real-time SDK.

Needs the audio extra (``livekit``, imported lazily: the base install never loads it).

For ``tone`` and ``sound`` sipctl joins as a *hidden*, subscribe-only participant: LiveKit
never announces hidden participants (livekit/livekit pkg/rtc/room.go), so nothing in the
room reacts to the probe. For ``echo`` it must be visible, or the SIP bridge would never
subscribe to its track (livekit/sip pkg/sip/room.go subscribes to the tracks of the
participants it is told about), and it publishes one audio track: :func:`echo_frames`.
Either way it carries the ``sipctl.probe`` attribute, holds a token valid for two minutes
(the join is all it is needed for), subscribes to the SIP participant's audio only
(auto-subscribe off: an agent in the room costs no bandwidth), and
records it as 8 kHz mono PCM from the first frame until the SIP participant's track ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from livekit import api

from sipctl.audio import FRAME_SAMPLES, RATE, Heard, echo_frame
from sipctl.livekit.client import ConnectionLike

if TYPE_CHECKING:
    from sipctl.models import AudioCheck

log = logging.getLogger("sipctl.audio")

TOKEN_TTL = timedelta(minutes=2)
JOIN_TIMEOUT = 10.0
PROBE_ATTRIBUTE = "sipctl.probe"
SOURCE_QUEUE_MS = 60  # the SDK's buffer before sending: part of the measured round trip


def listener_identity(call: str) -> str:
    return f"sipctl-audio-{call}-{secrets.token_hex(3)}"


def listener_token(
    conn: ConnectionLike, room: str, identity: str, call: str, *, publish: bool
) -> str:
    grants = api.VideoGrants(
        room_join=True,
        room=room,
        can_subscribe=True,
        can_publish=publish,
        can_publish_data=False,
        can_publish_sources=["microphone"] if publish else [],
        hidden=not publish,
    )
    return (
        api.AccessToken(conn.api_key, conn.api_secret)
        .with_identity(identity)
        .with_name(f"sipctl audio probe {call}")
        .with_ttl(TOKEN_TTL)
        .with_attributes({PROBE_ATTRIBUTE: call})
        .with_grants(grants)
        .to_jwt()
    )


class AudioListener:
    """Join before dialling (:meth:`start`), collect until the call ends (:meth:`finish`)."""

    def __init__(
        self, conn: ConnectionLike, room: str, sip_identity: str, call: str, check: AudioCheck
    ) -> None:
        self.conn = conn
        self.room_name = room
        self.sip_identity = sip_identity
        self.call = call
        self.check = check
        self.identity = listener_identity(call)
        self._chunks: list[bytes] = []
        self._first_frame_at: float | None = None
        self._sent_from: float | None = None
        self._join_seconds = 0.0
        self._tasks: set[asyncio.Task[None]] = set()
        self._room: Any = None
        self._error: str | None = None

    @property
    def echo(self) -> bool:
        return self.check.expect == "echo"

    async def start(self) -> None:
        import livekit.rtc as rtc  # optional: the audio extra

        room = rtc.Room()
        self._room = room
        room.on("track_published", self._on_published)
        room.on("track_subscribed", self._on_track)
        token = listener_token(
            self.conn, self.room_name, self.identity, self.call, publish=self.echo
        )
        started = time.monotonic()
        try:
            await asyncio.wait_for(
                room.connect(self.conn.url, token, rtc.RoomOptions(auto_subscribe=False)),
                JOIN_TIMEOUT,
            )
        except (TimeoutError, rtc.ConnectError) as e:
            self._error = f"could not join the room to listen ({e or 'timed out'})"
            return
        self._join_seconds = time.monotonic() - started
        for participant in room.remote_participants.values():  # published before the join
            for publication in participant.track_publications.values():
                self._on_published(publication, participant)
        log.debug("audio probe joined %s in %.0f ms", self.room_name, self._join_seconds * 1000)
        if self.echo:
            source = rtc.AudioSource(RATE, 1, queue_size_ms=SOURCE_QUEUE_MS)
            track = rtc.LocalAudioTrack.create_audio_track("sipctl-echo-probe", source)
            options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
            try:
                await asyncio.wait_for(room.local_participant.publish_track(track, options), 10)
            except Exception as e:
                self._error = f"could not publish the echo signal ({e})"
                return
            self._spawn(self._send_pattern(source))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_published(self, publication: Any, participant: Any) -> None:
        """Subscribe to the SIP participant's audio, and to nothing else in the room."""
        import livekit.rtc as rtc  # optional: the audio extra

        if (
            participant.identity == self.sip_identity
            and publication.kind == rtc.TrackKind.KIND_AUDIO
        ):
            publication.set_subscribed(True)

    def _on_track(self, track: Any, publication: Any, participant: Any) -> None:
        import livekit.rtc as rtc  # optional: the audio extra

        if participant.identity == self.sip_identity and track.kind == rtc.TrackKind.KIND_AUDIO:
            self._spawn(self._record(track))

    async def _record(self, track: Any) -> None:
        import livekit.rtc as rtc  # optional: the audio extra

        stream = rtc.AudioStream(track, sample_rate=RATE, num_channels=1)
        try:
            async for event in stream:
                if self._first_frame_at is None:
                    # the frame's first sample arrived one frame's length ago
                    frame_s = event.frame.samples_per_channel / RATE
                    self._first_frame_at = time.monotonic() - frame_s
                self._chunks.append(bytes(event.frame.data))
        finally:
            await stream.aclose()

    async def _send_pattern(self, source: Any) -> None:
        import livekit.rtc as rtc  # optional: the audio extra

        start = time.monotonic()
        self._sent_from = start
        frame_s = FRAME_SAMPLES / RATE
        while True:
            # the frame due now: if a capture stalled, the pattern skips ahead with the
            # clock instead of falling behind it (the delay is measured against the clock)
            k = int((time.monotonic() - start) / frame_s)
            await source.capture_frame(rtc.AudioFrame(echo_frame(k), RATE, 1, FRAME_SAMPLES))
            delay = start + (k + 1) * frame_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    async def finish(self) -> Heard:
        """Leave the room (the call is over) and hand over what was heard."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._room is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._room.disconnect(), 5)
        return Heard(
            pcm=b"".join(self._chunks),
            first_frame_at=self._first_frame_at,
            sent_from=self._sent_from,
            join_seconds=self._join_seconds,
            error=self._error,
        )
