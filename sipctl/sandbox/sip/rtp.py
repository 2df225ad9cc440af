"""A minimal RTP endpoint (RFC 3550) with RFC 4733 DTMF, as the bridge's media port.

Each call has its own UDP socket (its port goes into the SDP offer). Once the answer
is known, the session sends 20 ms of silence per tick in the negotiated codec and
counts what it receives. All sessions of an event loop share one 20 ms
:class:`MediaClock`, so 200 calls cost one timer, not 200.

Audio hook (for the sandbox's real-time side): ``on_audio`` receives each audio packet
decoded to 16-bit PCM (8 kHz mono, little-endian, normally 20 ms = 320 bytes), and
``audio_source``, when set, is asked every tick for the next 20 ms of PCM to send
instead of silence (return None to send silence). ``last_received`` (event-loop time)
drives the bridge's media timeout.

DTMF follows livekit/media-sdk's timing: per digit 250 ms of event packets (same
timestamp, growing duration, marker on the first, the end packet sent 3 times),
then 250 ms pause; ``w`` is a 0.5 s pause.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from sipctl.sandbox.sip import g711
from sipctl.sandbox.sip.sdp import PCMA, PCMU

Addr = tuple[str, int]
TICK = 0.020
SAMPLES_PER_TICK = 160  # 8 kHz · 20 ms
SILENCE = {PCMU: b"\xff" * SAMPLES_PER_TICK, PCMA: b"\xd5" * SAMPLES_PER_TICK}

EVENT_TICKS = 13  # 250 ms of events at 20 ms steps (media-sdk: 250 ms, then stop)
EVENT_VOLUME = 10
DTMF_CODES = {
    **{str(d): d for d in range(10)},
    "*": 10,
    "#": 11,
    "a": 12,
    "b": 13,
    "c": 14,
    "d": 15,
}
DTMF_CHARS = {v: k for k, v in DTMF_CODES.items()}


@dataclass(frozen=True)
class DtmfEvent:
    digit: str
    code: int
    end: bool
    volume: int
    duration: int
    timestamp: int


def rtp_header(pt: int, seq: int, ts: int, ssrc: int, marker: bool = False) -> bytes:
    return struct.pack(
        "!BBHII", 0x80, (0x80 if marker else 0) | (pt & 0x7F), seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc
    )


def encode_event(code: int, end: bool, volume: int, duration: int) -> bytes:
    return struct.pack("!BBH", code, (0x80 if end else 0) | (volume & 0x3F), duration & 0xFFFF)


def decode_event(payload: bytes, timestamp: int) -> DtmfEvent | None:
    if len(payload) < 4:
        return None
    code, flags, duration = struct.unpack("!BBH", payload[:4])
    return DtmfEvent(
        digit=DTMF_CHARS.get(code, "?"),
        code=code,
        end=bool(flags & 0x80),
        volume=flags & 0x3F,
        duration=duration,
        timestamp=timestamp,
    )


class MediaClock:
    """One drift-free 20 ms ticker per event loop driving every active session."""

    _clocks: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MediaClock]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sessions: set[RtpSession] = set()
        self._handle: asyncio.TimerHandle | None = None
        self._next = 0.0

    @classmethod
    def for_loop(cls) -> MediaClock:
        loop = asyncio.get_running_loop()
        clock = cls._clocks.get(loop)
        if clock is None:
            clock = cls._clocks[loop] = cls(loop)
        return clock

    def add(self, session: RtpSession) -> None:
        self.sessions.add(session)
        if self._handle is None:
            self._next = self.loop.time() + TICK
            self._handle = self.loop.call_at(self._next, self._tick)

    def remove(self, session: RtpSession) -> None:
        self.sessions.discard(session)
        if not self.sessions and self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        for s in list(self.sessions):
            s.tick()
        if not self.sessions:
            self._handle = None
            return
        self._next += TICK
        now = self.loop.time()
        if self._next < now - 10 * TICK:
            self._next = now  # we fell far behind (suspended loop): don't burst
        self._handle = self.loop.call_at(self._next, self._tick)


class _RtpProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: RtpSession) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.owner._received(data)

    def error_received(self, exc: Exception) -> None:
        self.owner.send_errors += 1


class RtpSession:
    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.log = logger or logging.getLogger(__name__)
        self.local: Addr = ("0.0.0.0", 0)
        self.remote: Addr | None = None
        self.payload_type = PCMU
        self.dtmf_payload_type: int | None = None
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)
        self.ts = random.getrandbits(32)
        self.packets_sent = 0
        self.packets_received = 0
        self.bytes_received = 0
        self.send_errors = 0
        self.events_received: list[DtmfEvent] = []
        self.last_received: float | None = None  # loop time of the last RTP packet
        # the audio hook (see the module docstring)
        self.on_audio: Callable[[bytes], None] | None = None
        self.audio_source: Callable[[], bytes | None] | None = None
        # each received RFC 4733 digit, once (at its first end packet)
        self.on_dtmf: Callable[[str], None] | None = None
        self._dtmf_seen: int | None = None
        self._dt: asyncio.DatagramTransport | None = None
        self._clock: MediaClock | None = None
        self._dtmf: Iterator[list[tuple[bytes, bool]] | None] | None = None
        self._dtmf_done: asyncio.Future[None] | None = None
        self._event_ts: int | None = None

    async def open(self, local_ip: str) -> RtpSession:
        loop = asyncio.get_running_loop()
        dt, _ = await loop.create_datagram_endpoint(
            lambda: _RtpProtocol(self), local_addr=(local_ip, 0)
        )
        self._dt = dt
        sock = dt.get_extra_info("sockname")
        self.local = (str(sock[0]), int(sock[1]))
        return self

    def start(self, remote: Addr, payload_type: int, dtmf_payload_type: int | None) -> None:
        """Begin sending silence to ``remote`` every 20 ms."""
        self.remote = remote
        self.payload_type = payload_type
        self.dtmf_payload_type = dtmf_payload_type
        if self._clock is None and self._dt is not None:
            self._clock = MediaClock.for_loop()
            self._clock.add(self)

    def close(self) -> None:
        if self._clock is not None:
            self._clock.remove(self)
            self._clock = None
        if self._dtmf_done is not None and not self._dtmf_done.done():
            self._dtmf_done.set_result(None)
        self._dtmf = None
        if self._dt is not None:
            self._dt.close()
            self._dt = None

    # -- DTMF -------------------------------------------------------------------
    async def send_dtmf(self, digits: str) -> None:
        """Send RFC 4733 events for ``digits`` (``w`` = 0.5 s pause); returns when done."""
        if self._clock is None or self.remote is None:
            return
        if self._dtmf_done is not None and not self._dtmf_done.done():
            await self._dtmf_done
        self._dtmf_done = asyncio.get_running_loop().create_future()
        self._dtmf = self._dtmf_ticks(digits)
        await self._dtmf_done

    def _dtmf_ticks(self, digits: str) -> Iterator[list[tuple[bytes, bool]] | None]:
        """Per tick: event payloads to send (with marker), or None for plain audio."""
        for ch in digits:
            if ch == "w":
                for _ in range(2 * EVENT_TICKS - 1):  # ~0.5 s
                    yield None
                continue
            code = DTMF_CODES.get(ch.lower())
            if code is None or self.dtmf_payload_type is None:
                # media-sdk: an unknown digit still takes its tone time, silently
                for _ in range(2 * EVENT_TICKS):
                    yield None
                continue
            for i in range(EVENT_TICKS):
                end = i == EVENT_TICKS - 1
                payload = encode_event(code, end, EVENT_VOLUME, (i + 1) * SAMPLES_PER_TICK)
                yield [(payload, i == 0)] * (3 if end else 1)
            for _ in range(EVENT_TICKS):  # pause after each digit
                yield None

    # -- clock ------------------------------------------------------------------
    def tick(self) -> None:
        if self._dt is None or self.remote is None:
            return
        step: list[tuple[bytes, bool]] | None = None
        if self._dtmf is not None:
            try:
                step = next(self._dtmf)
            except StopIteration:
                self._dtmf = None
                if self._dtmf_done is not None and not self._dtmf_done.done():
                    self._dtmf_done.set_result(None)
                self._event_ts = None
        if step:
            if self._event_ts is None or step[0][1]:
                self._event_ts = self.ts  # all packets of one event share its start time
            pt = self.dtmf_payload_type if self.dtmf_payload_type is not None else 101
            for payload, marker in step:
                self._send(rtp_header(pt, self.seq, self._event_ts, self.ssrc, marker) + payload)
        else:
            self._event_ts = None
            audio = self._next_audio()
            self._send(rtp_header(self.payload_type, self.seq, self.ts, self.ssrc) + audio)
        self.ts = (self.ts + SAMPLES_PER_TICK) & 0xFFFFFFFF

    def _next_audio(self) -> bytes:
        silence = SILENCE.get(self.payload_type, SILENCE[PCMU])
        if self.audio_source is None:
            return silence
        pcm = self.audio_source()
        if not pcm:
            return silence
        return g711.encode(pcm[: 2 * SAMPLES_PER_TICK], self.payload_type == PCMA)

    def _send(self, packet: bytes) -> None:
        assert self._dt is not None and self.remote is not None
        try:
            self._dt.sendto(packet, self.remote)
            self.packets_sent += 1
        except OSError:
            self.send_errors += 1
        self.seq = (self.seq + 1) & 0xFFFF

    def _received(self, data: bytes) -> None:
        if len(data) < 12 or data[0] >> 6 != 2:
            return  # not RTP (or RTCP garbage): ignore
        self.packets_received += 1
        self.bytes_received += len(data)
        if self._dt is not None:
            self.last_received = asyncio.get_running_loop().time()
        pt = data[1] & 0x7F
        cc = data[0] & 0x0F
        if self.dtmf_payload_type is not None and pt == self.dtmf_payload_type:
            ts = struct.unpack("!I", data[4:8])[0]
            ev = decode_event(data[12 + 4 * cc :], ts)
            if ev is not None:
                self.events_received.append(ev)
                if ev.end and ev.timestamp != self._dtmf_seen:
                    self._dtmf_seen = ev.timestamp
                    if self.on_dtmf is not None:
                        self.on_dtmf(ev.digit)
        elif self.on_audio is not None and pt in (PCMU, PCMA):
            self.on_audio(g711.decode(data[12 + 4 * cc :], pt == PCMA))
