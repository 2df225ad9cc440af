"""SDP offer/answer and RTP (silence, counters, RFC 4733 DTMF) on loopback."""

from __future__ import annotations

import asyncio
import time

import pytest

from sipctl.sandbox.sip.rtp import EVENT_TICKS, RtpSession, decode_event, encode_event
from sipctl.sandbox.sip.sdp import PCMA, PCMU, SdpError, make_offer, parse_answer

SIPP_ANSWER = (
    b"v=0\r\no=callee 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\nm=audio 6000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
)


def test_offer_lists_g722_pcmu_pcma_and_telephone_event() -> None:
    # livekit/sip pkg/sip/media_codecs.go defaultCodecs; media-sdk OfferCodecsWith order
    offer = make_offer("127.0.0.1", 40000, session_id=1).decode()
    assert "m=audio 40000 RTP/AVP 9 0 8 101\r\na=rtpmap:9 G722/8000\r\n" in offer
    assert "a=rtpmap:101 telephone-event/8000\r\n" in offer
    assert "c=IN IP4 127.0.0.1\r\n" in offer


def test_parse_sipp_answer() -> None:
    a = parse_answer(SIPP_ANSWER)
    assert (a.ip, a.port, a.payload_type, a.codec, a.dtmf_payload_type) == (
        "127.0.0.1",
        6000,
        PCMU,
        "PCMU",
        101,
    )


def test_answer_picks_first_common_codec_and_media_level_address() -> None:
    body = (
        b"v=0\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 9 8 96\r\n"
        b"c=IN IP4 10.0.0.2\r\na=rtpmap:96 telephone-event/8000\r\n"
    )
    a = parse_answer(body)
    assert (a.ip, a.payload_type, a.codec, a.dtmf_payload_type) == ("10.0.0.2", PCMA, "PCMA", 96)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"v=0\r\nc=IN IP4 1.2.3.4\r\n", "no audio"),
        (b"v=0\r\nm=audio 5 RTP/AVP 0\r\n", "no connection"),
        (b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5 RTP/AVP 9\r\n", "common audio codec"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_unusable_answers(body: bytes, message: str) -> None:
    with pytest.raises(SdpError, match=message):
        parse_answer(body)


def test_event_payload_round_trip() -> None:
    ev = decode_event(encode_event(11, True, 10, 2080), 1234)
    assert ev is not None
    assert (ev.digit, ev.end, ev.volume, ev.duration, ev.timestamp) == ("#", True, 10, 2080, 1234)


async def test_silence_and_dtmf_between_two_sessions() -> None:
    a = await RtpSession().open("127.0.0.1")
    b = await RtpSession().open("127.0.0.1")
    try:
        b.start(a.local, PCMU, 101)
        a.start(b.local, PCMU, 101)
        t0 = time.monotonic()
        await a.send_dtmf("1w#")
        elapsed = time.monotonic() - t0
        await asyncio.sleep(0.1)
        # media-sdk timing: 2 x (250 ms tone + 250 ms pause) + 500 ms for 'w'
        assert elapsed > 1.35  # the tones and the pause were really timed
        assert b.packets_received > 50 and a.packets_received > 50
        ends = [e for e in b.events_received if e.end]
        assert [e.digit for e in ends] == ["1"] * 3 + ["#"] * 3  # end packet sent 3 times
        firsts = [e for e in b.events_received if e.duration == 160]
        assert [e.digit for e in firsts] == ["1", "#"]
        one = [e for e in b.events_received if e.digit == "1"]
        assert len({e.timestamp for e in one}) == 1  # one timestamp per event
        assert len(one) == EVENT_TICKS + 2
    finally:
        a.close()
        b.close()
