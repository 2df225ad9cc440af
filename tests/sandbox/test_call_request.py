"""The call request as livekit/sip builds and checks it (issue #14 items 1, 2, 6, 9).

Sources: livekit/sip pkg/sip/client.go (createSIPParticipant: newMediaConfig, then
buildOutboundHeaders with buildLegacyURI/buildRawURI/buildValuesURI/buildToHeader/
buildFromHeader, all before the participant joins), pkg/sip/media_codecs.go (codecSet,
defaultCodecs), media-sdk sdp/offer.go (OfferMediaWith: order, RTP/SAVP, a=crypto;
Answer.apply: ErrNoCommonCrypto "no common encryption profiles"), srtp/srtp.go
(defaultProfiles), protocol livekit/sip.go (CreateSIPParticipantRequest.ValidateResult),
pkg/sip/outbound.go (Call-ID = guid.HashedID(SCL id)), protocol utils/guid HashedID.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from livekit import api
from livekit.protocol.room import ListParticipantsRequest, ListRoomsRequest
from livekit.protocol.sip import (
    CreateSIPParticipantRequest,
    SIPCodec,
    SIPMediaConfig,
    SIPMediaEncryption,
    SIPNamedDest,
    SIPRequestDest,
    SIPUri,
)

from sipctl.sandbox.provider import NUMBERS, Provider
from sipctl.sandbox.rooms import hashed_id
from tests.fixtures.sandbox import Sandbox
from tests.sandbox.test_calls_e2e import dial, make_trunk

pytestmark = pytest.mark.sip
ALLOW = SIPMediaEncryption.SIP_MEDIA_ENCRYPT_ALLOW
REQUIRE = SIPMediaEncryption.SIP_MEDIA_ENCRYPT_REQUIRE


def _jxskiss_decode(text: str) -> bytes:
    """jxskiss/base62 base62.go decoder.decode, ported for the test: an independent
    check that hashed_id encodes as that library does."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    table = {c: i for i, c in enumerate(alphabet)}
    out: list[int] = []
    pos = b = 0
    for i, c in enumerate(text):
        x = table[c]
        b |= x << pos
        if i == len(text) - 1:
            pos += x.bit_length()
        else:
            pos += 5 if x & 0x1E == 0x1E else 6
        if pos >= 8:
            out.append(b & 0xFF)
            pos %= 8
            b >>= 8
    if pos > 0:
        out.append(b & 0xFF)
    return bytes(reversed(out))


def test_hashed_id_is_base62_of_sha1() -> None:
    # utils/guid HashedID: SHA-1, jxskiss/base62 StdEncoding (6-bit groups, some 5)
    import hashlib

    h = hashed_id("SCL_abc")
    assert re.fullmatch(r"[A-Za-z0-9]{27,32}", h)
    assert h == hashed_id("SCL_abc") and h != hashed_id("SCL_abd")
    for i in range(300):
        value = f"SCL_{i:012d}"
        assert _jxskiss_decode(hashed_id(value)) == hashlib.sha1(value.encode()).digest()


def invite_of(prov: Provider, n: int = -1) -> str:
    """The n-th INVITE the callee (SIPp, -trace_msg) received."""
    text = (Path(prov.workdir) / "uas_msg.log").read_text(errors="replace")
    invites = re.findall(r"INVITE sip:.*?(?=\n-{5,}|\Z)", text, re.S)
    assert invites, text[-2000:]
    return str(invites[n])


@pytest.fixture
def traced(tmp_path: Path) -> Any:
    p = Provider(tmp_path / "traced", trace_uas=True)
    p.start()
    yield p
    p.stop()


@pytest.fixture
async def lk(sandbox: Sandbox) -> Any:
    async with api.LiveKitAPI(sandbox.url, sandbox.api_key, sandbox.api_secret) as c:
        yield c


async def test_default_offer_and_call_id(traced: Provider, lk: api.LiveKitAPI) -> None:
    trunk = await make_trunk(lk, traced)
    info = await lk.sip.create_sip_participant(dial(trunk, "answer"))
    inv = invite_of(traced)
    assert re.search(r"m=audio \d+ RTP/AVP 9 0 8 101", inv)
    assert "a=rtpmap:9 G722/8000" in inv and "a=crypto" not in inv
    # the SIP Call-ID is HashedID(sip.callID), so sip.callIDFull follows from sip.callID
    assert f"Call-ID: {hashed_id(info.sip_call_id)}" in inv
    ps = await lk.room.list_participants(ListParticipantsRequest(room="e2e"))
    assert ps.participants[0].attributes["sip.callIDFull"] == hashed_id(info.sip_call_id)
    # LiveKit's INVITE carries no User-Agent
    assert "User-Agent:" not in inv


async def test_only_listed_codecs(traced: Provider, lk: api.LiveKitAPI) -> None:
    trunk = await make_trunk(lk, traced)
    media = SIPMediaConfig(only_listed_codecs=True, codecs=[SIPCodec(name="PCMU")])
    await lk.sip.create_sip_participant(dial(trunk, "answer", media=media))
    inv = invite_of(traced)
    assert re.search(r"m=audio \d+ RTP/AVP 0 101\r?\n", inv)
    assert "G722" not in inv and "PCMA" not in inv


async def test_unknown_codec_rate_fails_before_anyone_joins(
    provider: Provider, lk: api.LiveKitAPI
) -> None:
    trunk = await make_trunk(lk, provider)
    media = SIPMediaConfig(codecs=[SIPCodec(name="FOO")])
    with pytest.raises(api.TwirpError) as e:
        await lk.sip.create_sip_participant(dial(trunk, "answer", media=media))
    assert e.value.code == "unknown" and e.value.status == 500
    assert e.value.message == 'twirp error unknown: sample rate not specified for codec: "FOO"'
    assert (await lk.room.list_rooms(ListRoomsRequest())).rooms == []


@pytest.mark.parametrize("where", ["trunk", "request"])
async def test_allow_offers_sdes_and_connects_plain(
    traced: Provider, lk: api.LiveKitAPI, where: str
) -> None:
    kw: dict[str, Any] = {"media_encryption": ALLOW}
    trunk = await make_trunk(lk, traced, **(kw if where == "trunk" else {}))
    await lk.sip.create_sip_participant(dial(trunk, "answer", **(kw if where == "request" else {})))
    inv = invite_of(traced)
    assert re.search(r"m=audio \d+ RTP/SAVP 9 0 8 101", inv)
    profiles = re.findall(r"a=crypto:(\d) (\S+) inline:(\S+)", inv)
    assert [(i, p) for i, p, _ in profiles] == [
        ("1", "AES_CM_128_HMAC_SHA1_80"),
        ("2", "AES_CM_128_HMAC_SHA1_32"),
        ("3", "AES_256_CM_HMAC_SHA1_80"),
        ("4", "AES_256_CM_HMAC_SHA1_32"),
    ]


async def test_require_with_a_plain_answer_fails(provider: Provider, lk: api.LiveKitAPI) -> None:
    trunk = await make_trunk(lk, provider, media_encryption=REQUIRE)
    with pytest.raises(api.TwirpError) as e:
        await lk.sip.create_sip_participant(dial(trunk, "answer"))
    assert e.value.code == "failed_precondition"
    assert e.value.message == "twirp error unknown: no common encryption profiles"


async def test_request_uri_and_from_header(traced: Provider, lk: api.LiveKitAPI) -> None:
    trunk = await make_trunk(lk, traced)
    req = dial(
        trunk,
        "answer",
        sip_request_uri=SIPRequestDest(
            values=SIPUri(user=NUMBERS["answer"], host="127.0.0.1", port=traced.sip_port)
        ),
        sip_from_header=SIPNamedDest(
            display_name="Front Desk", values=SIPUri(user="desk", host="example.com")
        ),
    )
    await lk.sip.create_sip_participant(req)
    inv = invite_of(traced)
    # the trunk's explicit transport goes into every URI (client.go setUriTransport)
    assert re.search(r'From: "Front Desk" <sip:desk@example\.com;transport=udp>;tag=', inv)


async def call_error(lk: api.LiveKitAPI, req: CreateSIPParticipantRequest) -> tuple[str, str]:
    with pytest.raises(api.TwirpError) as e:
        await lk.sip.create_sip_participant(req)
    return e.value.code, e.value.message


async def test_request_field_errors(provider: Provider, lk: api.LiveKitAPI) -> None:
    trunk = await make_trunk(lk, provider)
    to_hdr = SIPNamedDest(values=SIPUri(user="x", host="127.0.0.1"))
    assert await call_error(lk, dial(trunk, "answer", sip_to_header=to_hdr)) == (
        "invalid_argument",
        "twirp error unknown: invalid To header: cannot use both CallTo and SipToHeader",
    )
    no_callee = CreateSIPParticipantRequest(sip_trunk_id=trunk, room_name="r", sip_to_header=to_hdr)
    assert await call_error(lk, no_callee) == ("invalid_argument", "missing sip callee number")
    assert await call_error(lk, dial(trunk, "answer", to_user_override="a@b")) == (
        "invalid_argument",
        "ToUserOverride should be a phone number or SIP user, not a full SIP URI",
    )
    code, msg = await call_error(lk, dial(trunk, "answer", to_user_override="a b"))
    assert code == "invalid_argument"
    assert msg.startswith("ToUserOverride contains invalid characters: char 32 not allowed")
    for wait in (True, False):
        only_number = CreateSIPParticipantRequest(
            sip_number="+15557770000",
            sip_call_to=NUMBERS["answer"],
            room_name="nobody",
            wait_until_answered=wait,
        )
        assert await call_error(lk, only_number) == (
            "invalid_argument",
            "twirp error unknown: invalid request URI: address must be set",
        )
    assert (await lk.room.list_rooms(ListRoomsRequest())).rooms == []
    await asyncio.sleep(0)
    _ = json


async def test_request_uri_decides_where_the_call_goes(
    traced: Provider, lk: api.LiveKitAPI
) -> None:
    # buildRequestURI: sip_request_uri replaces the Request-URI; To still names the callee
    # (sip_call_to). The provider routes by Request-URI: the answer line, not busy.
    trunk = await make_trunk(lk, traced)
    req = dial(
        trunk,
        "busy",
        sip_request_uri=SIPRequestDest(raw=f"<sip:{NUMBERS['answer']}@{traced.address}>"),
    )
    await lk.sip.create_sip_participant(req)  # answered: the busy number was not dialled
    inv = invite_of(traced)
    assert re.search(rf"To: <sip:\{NUMBERS['busy']}@127\.0\.0\.1:\d+;transport=udp>", inv)
