"""Judging what a probe heard: pure functions over 8 kHz 16-bit mono PCM.

The real-time client (:mod:`sipctl.livekit.rtc`) hands over the far end's audio as
20 ms frames from the first frame received to the end of the hold; for ``echo`` also
when each frame of its own signal went out. Three expectations:

* ``sound``: a frame is *active* when its RMS level is above :data:`SILENCE_DBFS`;
  the share of active frames must reach ``min_active``.
* ``tone``: a frame carries the tone when it is active and the Goertzel power at the
  frequency holds at least :data:`TONE_SHARE` of the frame's energy.
* ``echo``: sipctl sends :func:`echo_frame`, 200 ms segments of 1400 or 2000 Hz in a
  fixed pseudo-random order (so the delay is unambiguous over 3 s of it, and no steady
  tone matches it). Each received frame is labelled +1 (1400 Hz dominant), -1
  (2000 Hz) or 0; the echo share at a lag is (matches - mismatches) / frames compared,
  and the best lag up to :data:`MAX_ECHO_DELAY` is the round-trip audio delay.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

RATE = 8000
FRAME_SAMPLES = 160  # 20 ms
FRAME_SECONDS = FRAME_SAMPLES / RATE
SILENCE_DBFS = -50.0  # below this a frame is silence (G.711 idle noise sits far under it)
TONE_SHARE = 0.5  # share of a frame's energy at the tone frequency
ECHO_LOW_HZ = 1400.0
ECHO_HIGH_HZ = 2000.0
ECHO_SEGMENT = 0.2  # seconds per pattern segment
ECHO_LEVEL = 0.25  # of full scale
MAX_ECHO_DELAY = 2.0  # seconds: a longer round trip is not an echo line worth the name
LAG_MARGIN = 0.05  # a later lag must match this much better to be taken
ECHO_DRIFT = 0.1  # seconds a second of echo may sit off the delay (adapting jitter buffers)
_FULL_SCALE = 32768.0
# why an expectation failed (sipctl.results.Reason has the same values)
NO_AUDIO = "no_audio"  # nothing (or too little) from the far end
ONE_WAY_AUDIO = "one_way_audio"  # far end heard, own signal not echoed
WRONG_AUDIO = "wrong_audio"  # sound, but not the expected tone


@dataclass
class Heard:
    """What the probe heard (:mod:`sipctl.livekit.rtc`); times on ``time.monotonic``."""

    pcm: bytes  # 8 kHz 16-bit mono, from the first received frame on
    first_frame_at: float | None  # None: no frame ever came
    sent_from: float | None  # when the first frame of the echo signal went out
    join_seconds: float
    error: str | None = None  # the probe could not listen (join failed, ...)


@dataclass(frozen=True)
class AudioFinding:
    ok: bool
    reason: str | None  # a sipctl.results.Reason value: no_audio, one_way_audio, wrong_audio
    text: str
    active_ratio: float  # share of the window with the expected audio
    echo_delay: float | None = None  # seconds, echo only
    heard_seconds: float = 0.0


# --- signal measures ----------------------------------------------------------------------


def frames_of(pcm: bytes) -> list[tuple[int, ...]]:
    """Split little-endian 16-bit PCM into 20 ms frames (a trailing partial one dropped)."""
    n = len(pcm) // (2 * FRAME_SAMPLES)
    return [struct.unpack_from(f"<{FRAME_SAMPLES}h", pcm, i * 2 * FRAME_SAMPLES) for i in range(n)]


def energy(frame: Sequence[int]) -> float:
    return float(sum(x * x for x in frame))


def dbfs(frame: Sequence[int]) -> float:
    e = energy(frame)
    if e <= 0:
        return -math.inf
    return 20 * math.log10(math.sqrt(e / len(frame)) / _FULL_SCALE)


def is_active(frame: Sequence[int]) -> bool:
    return dbfs(frame) > SILENCE_DBFS


def goertzel_share(frame: Sequence[int], freq: float, rate: int = RATE) -> float:
    """Share of the frame's energy at ``freq`` (1.0 for a pure tone there)."""
    total = energy(frame)
    if total <= 0:
        return 0.0
    w = 2 * math.pi * freq / rate
    coeff = 2 * math.cos(w)
    s1 = s2 = 0.0
    for x in frame:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return min(1.0, 2 * power / (len(frame) * total))


def dominant_frequency(frames: Sequence[Sequence[int]], rate: int = RATE) -> float | None:
    """The strongest frequency (20 Hz steps, 100-3500 Hz) over some active frames."""
    active = [f for f in frames if is_active(f)][:10]
    if not active:
        return None
    best, best_share = 0.0, -1.0
    for hz in range(100, 3510, 20):
        share = sum(goertzel_share(f, hz, rate) for f in active)
        if share > best_share:
            best, best_share = float(hz), share
    return best


# --- the echo pattern ---------------------------------------------------------------------


# The echo signal's segments: +1 is 1400 Hz, -1 is 2000 Hz, 200 ms each, repeating after
# 127 (25.4 s). Chosen (random search) with runs of at most two equal segments and so that
# any 15 consecutive segments (3 s) agree with the same stretch shifted by 1-10 segments
# (up to MAX_ECHO_DELAY) on at most 12 of 15: a true echo stands out at its delay.
_PATTERN = (
    "+--+-+--++-++--+--++--+-+--++-+--+-++--++--+--+--+-+-++-+--+-++-++--++--++-++--+-+-+-++--"
    "++-+-+-+-+-++--+--++-+-++-+-+-+-++--+-"
)
MIN_ECHO_SECONDS = 3.0  # 15 segments: less and a shifted stretch of the pattern may fit


def echo_sequence(segments: int) -> list[int]:
    """The pattern's labels for ``segments`` segments from its start."""
    return [1 if _PATTERN[i % len(_PATTERN)] == "+" else -1 for i in range(segments)]


_PERIOD = len(_PATTERN)
_SEQUENCE = echo_sequence(_PERIOD)


def echo_frame(k: int, rate: int = RATE) -> bytes:
    """Frame ``k`` (20 ms, 16-bit PCM) of the signal sipctl sends for ``echo``: the sender
    picks the frame by the clock, so a stalled send never shifts the pattern in time."""
    amp = ECHO_LEVEL * 32767
    samples = []
    n0 = k * round(FRAME_SECONDS * rate)
    for n in range(n0, n0 + round(FRAME_SECONDS * rate)):
        t = n / rate
        label = _SEQUENCE[int(t / ECHO_SEGMENT) % _PERIOD]
        freq = ECHO_LOW_HZ if label > 0 else ECHO_HIGH_HZ
        samples.append(round(amp * math.sin(2 * math.pi * freq * t)))
    return struct.pack(f"<{len(samples)}h", *samples)


def echo_pattern(seconds: float, rate: int = RATE) -> bytes:
    """The first ``seconds`` of the echo signal, in one piece."""
    n = math.ceil(seconds / FRAME_SECONDS)
    return b"".join(echo_frame(k, rate) for k in range(n))[: 2 * round(seconds * rate)]


def echo_label(frame: Sequence[int]) -> int:
    if not is_active(frame):
        return 0
    low = goertzel_share(frame, ECHO_LOW_HZ)
    high = goertzel_share(frame, ECHO_HIGH_HZ)
    if max(low, high) < TONE_SHARE:
        return 0
    return 1 if low > high else -1


def best_echo_lag(
    received: Sequence[int], first_frame_at: float, sent_from: float
) -> tuple[float, float]:
    """(share, delay): how much of the received audio is the sent pattern, and the delay.

    The delay is the shortest lag that matches about as well as the best (within
    :data:`LAG_MARGIN`); the share then lets each second of audio sit up to
    :data:`ECHO_DRIFT` off that lag, as jitter buffers on the way adapt. ``first_frame_at``
    and ``sent_from`` are on one clock: when the first received frame arrived and when the
    pattern's first sample went out.
    """
    lags = round(MAX_ECHO_DELAY / FRAME_SECONDS) + 1
    # per lag, per frame: +1 the label matches the pattern, -1 it contradicts it, 0 silence
    # or a frame from before the pattern started
    marks = [[0] * len(received) for _ in range(lags)]
    compared = 0
    for i, label in enumerate(received):
        if first_frame_at + (i + 0.5) * FRAME_SECONDS - sent_from >= 0:
            compared += 1
        for lag in range(lags):
            t = first_frame_at + (i + 0.5) * FRAME_SECONDS - lag * FRAME_SECONDS - sent_from
            if t >= 0 and label:
                marks[lag][i] = label * _SEQUENCE[int(t / ECHO_SEGMENT) % _PERIOD]
    if not compared:
        return 0.0, 0.0
    scores = [sum(row) / compared for row in marks]
    best = max(scores)
    lag = next(i for i, s in enumerate(scores) if s >= best - LAG_MARGIN)
    drift = round(ECHO_DRIFT / FRAME_SECONDS)
    near = range(max(lag - drift, 0), min(lag + drift, lags - 1) + 1)
    chunk = round(1.0 / FRAME_SECONDS)
    total = 0
    for start in range(0, len(received), chunk):
        total += max(sum(marks[k][start : start + chunk]) for k in near)
    return max(total / compared, 0.0), lag * FRAME_SECONDS


# --- judging ------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def judge_audio(
    expect: str,
    pcm: bytes,
    *,
    min_active: float,
    frequency: float = 1004.0,
    first_frame_at: float | None = None,
    sent_from: float | None = None,
) -> AudioFinding:
    """The finding on what was heard (``pcm``: from the first received frame on)."""
    frames = frames_of(pcm)
    heard = len(frames) * FRAME_SECONDS
    if not frames:
        return AudioFinding(False, NO_AUDIO, "no audio frame came from the far end", 0.0)
    active = sum(1 for f in frames if is_active(f)) / len(frames)
    over = f"of {heard:.1f} s"
    if expect == "sound" or active == 0:
        ok = expect == "sound" and active >= min_active
        text = f"sound in {_pct(active)} {over}"
        if not ok:
            text += f", expected at least {_pct(min_active)}"
        return AudioFinding(
            ok,
            None if ok else NO_AUDIO,
            text,
            active if expect == "sound" else 0.0,
            heard_seconds=heard,
        )
    if expect == "tone":
        share = sum(
            1 for f in frames if is_active(f) and goertzel_share(f, frequency) >= TONE_SHARE
        ) / len(frames)
        if share >= min_active:
            return AudioFinding(
                True,
                None,
                f"{frequency:g} Hz tone in {_pct(share)} {over}",
                share,
                heard_seconds=heard,
            )
        if active < min_active:
            return AudioFinding(
                False,
                NO_AUDIO,
                f"sound in only {_pct(active)} {over}, expected the {frequency:g} Hz tone in "
                f"at least {_pct(min_active)}",
                share,
                heard_seconds=heard,
            )
        peak = dominant_frequency(frames)
        found = f"mostly {peak:g} Hz" if peak is not None else "no clear tone"
        return AudioFinding(
            False,
            WRONG_AUDIO,
            f"sound in {_pct(active)} {over}, but the {frequency:g} Hz tone only in "
            f"{_pct(share)} ({found})",
            share,
            heard_seconds=heard,
        )
    # echo
    assert first_frame_at is not None and sent_from is not None
    labels = [echo_label(f) for f in frames]
    share, delay = best_echo_lag(labels, first_frame_at, sent_from)
    if share >= min_active:
        return AudioFinding(
            True,
            None,
            f"own signal echoed back in {_pct(share)} {over}, round trip {delay * 1000:.0f} ms",
            share,
            echo_delay=delay,
            heard_seconds=heard,
        )
    return AudioFinding(
        False,
        ONE_WAY_AUDIO,
        f"the far end sent sound ({_pct(active)} {over}) but not sipctl's own signal back "
        f"(best match {_pct(max(share, 0.0))}, expected at least {_pct(min_active)})",
        max(share, 0.0),
        heard_seconds=heard,
    )
