"""Helpers for tests where the official real-time SDK joins a sandbox room."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import timedelta
from typing import Any

import numpy as np
from livekit import api, rtc

from tests.fixtures.sandbox import Sandbox


def join_token(sb: Sandbox, identity: str, room: str, **grants: Any) -> str:
    video = api.VideoGrants(room_join=True, room=room, **grants)
    return (
        api.AccessToken(sb.api_key, sb.api_secret)
        .with_identity(identity)
        .with_ttl(timedelta(minutes=5))
        .with_grants(video)
        .to_jwt()
    )


async def tone_publisher(source: Any, freq: float, stop: asyncio.Event) -> None:
    rate, n = 48000, 480
    i = 0
    while not stop.is_set():
        t = (np.arange(n) + i) / rate
        pcm = (0.3 * 32767 * np.sin(2 * math.pi * freq * t)).astype(np.int16)
        frame = rtc.AudioFrame(pcm.tobytes(), rate, 1, n)
        await source.capture_frame(frame)
        i += n


async def hear(track: Any, seconds: float) -> np.ndarray:
    stream = rtc.AudioStream(track, sample_rate=8000, num_channels=1)
    chunks: list[np.ndarray] = []
    deadline = time.monotonic() + seconds
    try:
        async for event in stream:
            chunks.append(np.frombuffer(bytes(event.frame.data), dtype=np.int16))
            if time.monotonic() > deadline:
                break
    finally:
        await stream.aclose()
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


def dominant_hz(samples: np.ndarray, rate: int = 8000) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum[1:])) + 1])
