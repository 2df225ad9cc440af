"""Audio between aiortc tracks and the SIP bridge's 8 kHz PCM.

The SIP leg speaks 16-bit mono PCM at 8 kHz in 20 ms frames (the bridge's RTP hook);
WebRTC tracks carry aiortc frames (Opus at 48 kHz, or G.711 as negotiated, decoded by
aiortc). :class:`PcmTrack` turns pushed PCM frames into a paced track; :class:`TrackReader`
pulls a track, resamples to 8 kHz mono and queues 20 ms frames; :class:`Mixer` sums the
readers' frames for the SIP leg, as livekit/sip mixes every subscribed track of the room
into the call (pkg/sip/room.go Room.participantAudioTrackSubscribed -> mixer inputs).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time
from collections import deque

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

RATE = 8000
SAMPLES = 160  # 20 ms at 8 kHz
FRAME_BYTES = 2 * SAMPLES
SILENCE = bytes(FRAME_BYTES)
MAX_QUEUED = 5  # 100 ms: a backlog would add its length to every later frame


class PcmTrack(MediaStreamTrack):
    """An audio track fed with 20 ms PCM frames, paced in real time (silence when none
    arrived), like the SIP bridge's track in the room."""

    kind = "audio"

    def __init__(self, track_id: str | None = None) -> None:
        super().__init__()
        if track_id:
            self._id = track_id
        self._queue: deque[bytes] = deque(maxlen=MAX_QUEUED)
        self._start: float | None = None
        self._pts = 0

    def push(self, pcm: bytes) -> None:
        if len(pcm) == FRAME_BYTES:
            self._queue.append(pcm)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            delay = self._start + self._pts / RATE - now
            if delay > 0:
                await asyncio.sleep(delay)
        pcm = self._queue.popleft() if self._queue else SILENCE
        frame = av.AudioFrame(format="s16", layout="mono", samples=SAMPLES)
        frame.planes[0].update(pcm)
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        self._pts += SAMPLES
        return frame


class TrackReader:
    """Reads a track until it ends, keeping its audio as 8 kHz 20 ms PCM frames."""

    def __init__(self, track: MediaStreamTrack) -> None:
        self.track = track
        self.frames: deque[bytes] = deque(maxlen=MAX_QUEUED)
        self._pending = b""
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = await self.track.recv()
                if not isinstance(frame, av.AudioFrame):
                    continue
                for out in self._resampler.resample(frame):
                    self._pending += out.to_ndarray().tobytes()
                while len(self._pending) >= FRAME_BYTES:
                    self.frames.append(self._pending[:FRAME_BYTES])
                    self._pending = self._pending[FRAME_BYTES:]

    def pop(self) -> bytes | None:
        return self.frames.popleft() if self.frames else None

    def close(self) -> None:
        self._task.cancel()


class Mixer:
    """Sums what the readers have, 20 ms at a time (None when nobody said anything)."""

    def __init__(self) -> None:
        self.readers: dict[str, TrackReader] = {}

    def next_frame(self) -> bytes | None:
        frames = [f for f in (r.pop() for r in self.readers.values()) if f is not None]
        if not frames:
            return None
        if len(frames) == 1:
            return frames[0]
        total = np.sum([np.frombuffer(f, dtype="<i2").astype(np.int32) for f in frames], axis=0)
        return bytes(np.clip(total, -32768, 32767).astype("<i2").tobytes())

    def close(self) -> None:
        for reader in self.readers.values():
            reader.close()
        self.readers.clear()
