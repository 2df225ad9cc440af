"""The audio judgements on generated signals (pure functions, no network)."""

from __future__ import annotations

import math
import random
import struct
from typing import Any

import pytest

from sipctl.audio import (
    FRAME_SECONDS,
    MAX_ECHO_DELAY,
    MIN_ECHO_SECONDS,
    RATE,
    echo_pattern,
    echo_sequence,
    goertzel_share,
    judge_audio,
)
from sipctl.results import Reason


def tone(freq: float, seconds: float, level: float = 0.3) -> bytes:
    n = round(seconds * RATE)
    return struct.pack(
        f"<{n}h",
        *(round(level * 32767 * math.sin(2 * math.pi * freq * i / RATE)) for i in range(n)),
    )


def silence(seconds: float) -> bytes:
    return bytes(2 * round(seconds * RATE))


def noise(seconds: float, level: float = 0.2) -> bytes:
    rnd = random.Random(7)
    n = round(seconds * RATE)
    return struct.pack(f"<{n}h", *(round(rnd.uniform(-level, level) * 32767) for _ in range(n)))


def test_goertzel_finds_the_tone_and_not_its_neighbours() -> None:
    frame = struct.unpack("<160h", tone(1004, 0.02))
    assert goertzel_share(frame, 1004) > 0.9
    assert goertzel_share(frame, 1400) < 0.1
    assert goertzel_share(frame, 440) < 0.1


def test_tone_line_passes_tone() -> None:
    found = judge_audio("tone", tone(1004, 3), min_active=0.5)
    assert found.ok and found.reason is None
    assert found.active_ratio > 0.95
    assert "1004 Hz tone in" in found.text


def test_tone_with_another_frequency_is_wrong_audio() -> None:
    found = judge_audio("tone", tone(440, 3), min_active=0.5)
    assert (found.ok, found.reason) == (False, Reason.WRONG_AUDIO)
    assert "mostly 440 Hz" in found.text


def test_custom_frequency() -> None:
    assert judge_audio("tone", tone(2600, 2), min_active=0.5, frequency=2600).ok
    assert not judge_audio("tone", tone(1004, 2), min_active=0.5, frequency=2600).ok


def test_silence_is_no_audio_for_every_expectation() -> None:
    for expect in ("sound", "tone"):
        found = judge_audio(expect, silence(3), min_active=0.5)
        assert (found.ok, found.reason, found.active_ratio) == (False, Reason.NO_AUDIO, 0.0)
    found = judge_audio("echo", silence(3), min_active=0.5, first_frame_at=1.0, sent_from=0.0)
    assert (found.ok, found.reason) == (False, Reason.NO_AUDIO)


def test_nothing_received_is_no_audio() -> None:
    found = judge_audio("sound", b"", min_active=0.5)
    assert (found.ok, found.reason) == (False, Reason.NO_AUDIO)
    assert "no audio frame" in found.text


def test_sound_share_is_measured_against_min_active() -> None:
    half = noise(2) + silence(2)
    found = judge_audio("sound", half, min_active=0.5)
    assert found.ok and found.active_ratio == pytest.approx(0.5, abs=0.02)
    found = judge_audio("sound", half, min_active=0.6)
    assert (found.ok, found.reason) == (False, Reason.NO_AUDIO)
    assert found.text == "sound in 50% of 4.0 s, expected at least 60%"


def test_quiet_line_noise_is_silence() -> None:
    assert judge_audio("sound", noise(2, level=0.001), min_active=0.5).reason == Reason.NO_AUDIO


def test_echo_pattern_is_found_with_its_delay() -> None:
    sent_from = 10.0
    delay = 0.34
    pattern = echo_pattern(6.0)
    # the far end's audio starts 1 s after sipctl began sending; it echoes with `delay`
    first_frame_at = sent_from + 1.0
    start = round((first_frame_at - sent_from - delay) * RATE) * 2
    heard = pattern[start : start + 4 * RATE * 2]
    found = judge_audio(
        "echo", heard, min_active=0.5, first_frame_at=first_frame_at, sent_from=sent_from
    )
    assert found.ok, found.text
    assert found.echo_delay == pytest.approx(delay, abs=FRAME_SECONDS)
    assert found.active_ratio > 0.8


def test_a_steady_tone_back_is_one_way_audio() -> None:
    for freq in (1004, 1400, 2000):
        found = judge_audio(
            "echo", tone(freq, 4), min_active=0.5, first_frame_at=1.0, sent_from=0.0
        )
        assert (found.ok, found.reason) == (False, Reason.ONE_WAY_AUDIO), freq
        assert found.echo_delay is None


def test_a_shifted_stretch_of_the_echo_pattern_never_fits_3_seconds() -> None:
    period = 127
    seq = echo_sequence(period * 3)
    assert seq[:period] == seq[period : 2 * period]
    assert (
        max(
            len(run)
            for run in "".join("+" if x > 0 else "-" for x in seq)
            .replace("+-", "+ -")
            .replace("-+", "- +")
            .split()
        )
        <= 2
    )
    window = round(MIN_ECHO_SECONDS / 0.2)
    for start in range(period):
        for shift in range(1, round(MAX_ECHO_DELAY / 0.2) + 1):
            a = seq[period + start : period + start + window]
            b = seq[period + start - shift : period + start - shift + window]
            assert sum(x * y for x, y in zip(a, b, strict=True)) / window <= 0.6


def test_echo_needs_three_seconds_of_hold() -> None:
    from pydantic import ValidationError

    from sipctl.models import TestCall

    base = {"trunk": "t", "to": "+15550810001", "audio": {"expect": "echo"}}
    assert TestCall.model_validate({**base, "hold": "3s"}).audio is not None
    with pytest.raises(ValidationError, match="needs a hold of at least 3s"):
        TestCall.model_validate({**base, "hold": "2s"})


def test_audio_figures_on_the_status_page_and_in_its_json() -> None:
    from sipctl.render.check_status import document, html
    from sipctl.results import CallStats, DialResult, Verdict, WatchStatus

    last = DialResult(
        name="echo", trunk="lab", to="+15550810001", expect="answered", verdict=Verdict.PASS,
        cause="answered in 0.10s; own signal echoed back in 92% of 5.0 s, round trip 230 ms",
        audio_active_ratio=0.92, audio_echo_delay=0.23, started_at=990.0,
    )  # fmt: skip
    stats = CallStats(
        name="echo", trunk="lab", schedule="every 5m", runs=1, failures=0,
        consecutive_failures=0, skipped_overlap=0, skipped_budget=0, failing=False,
        next_run=1030.0, last=last, history=[],
    )  # fmt: skip
    status = WatchStatus([stats], 1.0, 120, 100.0)
    page = html(status, now=1000.0)
    assert "audio 92%" in page and "echo 230 ms" in page
    doc = document(status, now=1000.0)["calls"][0]["last"]
    assert (doc["audio_active_ratio"], doc["audio_echo_delay"]) == (0.92, 0.23)


# --- the verdict with audio (sipctl.verdict.with_audio) ------------------------------------


def _heard(pcm: bytes, error: str | None = None) -> Any:
    from sipctl.audio import Heard

    return Heard(pcm=pcm, first_frame_at=1.0, sent_from=0.0, join_seconds=0.1, error=error)


def test_with_audio_fails_a_passing_call_on_what_it_heard() -> None:
    from sipctl.models import AudioCheck
    from sipctl.results import Verdict
    from sipctl.verdict import Judgement, with_audio

    answered = Judgement(Verdict.PASS, "answered in 0.10s", 200, "OK")
    j, found = with_audio(answered, AudioCheck(expect="tone"), _heard(tone(1004, 3)))
    assert found.ok and found.active_ratio > 0.9
    assert (j.verdict, j.reason) == (Verdict.PASS, None)
    assert j.cause.startswith("answered in 0.10s; 1004 Hz tone in")
    j, _ = with_audio(answered, AudioCheck(expect="sound"), _heard(silence(3)))
    assert (j.verdict, j.reason) == (Verdict.FAIL, Reason.NO_AUDIO)
    assert j.cause == "answered in 0.10s, but sound in 0% of 3.0 s, expected at least 50%"
    # the probe could not listen: never a pass
    j, _ = with_audio(answered, AudioCheck(expect="tone"), _heard(b"", "could not join (x)"))
    assert (j.verdict, j.reason) == (Verdict.ERROR, Reason.LIVEKIT)
    # a call that failed on SIP (no_media included) keeps its verdict and reason
    no_media = Judgement(Verdict.FAIL, "LiveKit hung up: no RTP", 200, "OK", reason=Reason.NO_MEDIA)
    j, _ = with_audio(no_media, AudioCheck(expect="sound"), _heard(silence(3)))
    assert j == no_media


def test_listener_tokens_hidden_for_listening_visible_for_echo() -> None:
    import jwt

    from sipctl.livekit.rtc import listener_token

    class Conn:
        url, api_key, api_secret = "http://127.0.0.1:7880", "key", "secret-" * 6

    for publish in (False, True):
        raw = listener_token(Conn(), "room-1", "sipctl-audio-x", "x", publish=publish)
        claims = jwt.decode(raw, Conn.api_secret, algorithms=["HS256"])
        video = claims["video"]
        assert (video["room"], video["roomJoin"], video["canSubscribe"]) == ("room-1", True, True)
        assert video.get("hidden", False) is not publish
        assert video["canPublish"] is publish
        assert claims["attributes"] == {"sipctl.probe": "x"}
        assert claims["exp"] - claims["nbf"] <= 120


def test_an_echo_whose_delay_drifts_still_counts() -> None:
    # a jitter buffer on the way grows from 200 to 380 ms over five seconds
    pattern = echo_pattern(10.0)
    sent_from, first = 0.0, 1.0
    heard = b""
    for second in range(5):
        delay = 0.2 + 0.045 * second
        start = round((first + second - delay) * RATE) * 2
        heard += pattern[start : start + RATE * 2]
    found = judge_audio("echo", heard, min_active=0.5, first_frame_at=first, sent_from=sent_from)
    assert found.ok, found.text
    assert found.active_ratio > 0.8
    assert found.echo_delay is not None and 0.18 <= found.echo_delay <= 0.4
