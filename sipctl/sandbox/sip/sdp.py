"""SDP offer/answer for one audio stream (RFC 4566, RFC 3264, RFC 4568 SDES).

The offer is built as livekit/media-sdk ``sdp/offer.go`` OfferMediaWith builds it:
codecs by priority (G722 -5, PCMU -10, PCMA -20, telephone-event -100; static payload
types, dynamic ones from 101), ``a=fmtp:101 0-16``, with encryption ``RTP/SAVP`` and one
``a=crypto`` line per default SRTP profile (``srtp/srtp.go`` defaultProfiles, fresh random
keys), then ``a=ptime:20`` and ``a=sendrecv``.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

# static payload types (RFC 3551) and our dynamic one for RFC 4733 events
PCMU = 0
PCMA = 8
G722 = 9
TELEPHONE_EVENT = 101
OFFERED_CODECS: dict[int, str] = {G722: "G722/8000", PCMU: "PCMU/8000", PCMA: "PCMA/8000"}
_STATIC_NAMES = {PCMU: "PCMU", PCMA: "PCMA", G722: "G722"}
# media-sdk codec registry: SDP name/rate -> (static payload type, priority)
KNOWN_CODECS: dict[str, tuple[int, int]] = {
    "g722/8000": (G722, -5),
    "pcmu/8000": (PCMU, -10),
    "pcma/8000": (PCMA, -20),
}
DEFAULT_CODECS = ("G722/8000", "PCMU/8000", "PCMA/8000")  # pkg/sip/media_codecs.go
# srtp/srtp.go defaultProfiles, with their master key + salt lengths
SRTP_PROFILES: tuple[tuple[str, int], ...] = (
    ("AES_CM_128_HMAC_SHA1_80", 30),
    ("AES_CM_128_HMAC_SHA1_32", 30),
    ("AES_256_CM_HMAC_SHA1_80", 46),
    ("AES_256_CM_HMAC_SHA1_32", 46),
)


class SdpError(ValueError):
    """An answer we cannot use (no audio, no common codec, garbage)."""


def offer_codecs(enabled: Sequence[str] = DEFAULT_CODECS) -> dict[int, str]:
    """OfferCodecsWith: the enabled codecs the bridge knows, highest priority first."""
    known = [(KNOWN_CODECS[n.lower()], n) for n in enabled if n.lower() in KNOWN_CODECS]
    known.sort(key=lambda k: (-k[0][1], k[1].lower()))
    out: dict[int, str] = {}
    for (pt, _), name in known:
        base, _, rate = name.partition("/")
        out[pt] = f"{base.upper()}/{rate}"
    return out


def make_offer(
    ip: str,
    port: int,
    session_id: int | None = None,
    *,
    codecs: dict[int, str] | None = None,
    encrypted: bool = False,
) -> bytes:
    sid = session_id if session_id is not None else secrets.randbits(62)
    codecs = OFFERED_CODECS if codecs is None else codecs
    fmts = " ".join(str(pt) for pt in [*codecs, TELEPHONE_EVENT])
    crypto = []
    if encrypted:
        for i, (profile, size) in enumerate(SRTP_PROFILES, 1):
            key = base64.b64encode(secrets.token_bytes(size)).decode()
            crypto.append(f"a=crypto:{i} {profile} inline:{key}")
    lines = [
        "v=0",
        f"o=LiveKit {sid} {sid} IN IP4 {ip}",
        "s=LiveKit",
        f"c=IN IP4 {ip}",
        "t=0 0",
        f"m=audio {port} RTP/{'SAVP' if encrypted else 'AVP'} {fmts}",
        *(f"a=rtpmap:{pt} {name}" for pt, name in codecs.items()),
        f"a=rtpmap:{TELEPHONE_EVENT} telephone-event/8000",
        f"a=fmtp:{TELEPHONE_EVENT} 0-16",
        *crypto,
        "a=ptime:20",
        "a=sendrecv",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


@dataclass
class Answer:
    ip: str
    port: int
    payload_type: int
    codec: str  # "PCMU" or "PCMA"
    dtmf_payload_type: int | None = None
    direction: str = "sendrecv"
    rtpmap: dict[int, str] = field(default_factory=dict)
    crypto: list[str] = field(default_factory=list)  # a=crypto values
    proto: str = "RTP/AVP"


def parse_answer(body: bytes, usable: Sequence[str] = ("PCMU", "PCMA")) -> Answer:
    """Pick the first codec of the answer among ``usable``; find its telephone-event PT."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SdpError("SDP answer is not UTF-8") from None
    if not text.strip():
        raise SdpError("empty SDP answer")
    session_ip: str | None = None
    media_ip: str | None = None
    port: int | None = None
    fmts: list[int] = []
    proto = "RTP/AVP"
    crypto: list[str] = []
    rtpmap: dict[int, str] = {}
    direction = "sendrecv"
    in_audio = False
    seen_audio = False
    for raw in text.splitlines():
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        if kind == "m":
            parts = value.split()
            in_audio = bool(parts) and parts[0] == "audio" and not seen_audio
            if in_audio:
                seen_audio = True
                if len(parts) < 4 or not parts[1].isdigit():
                    raise SdpError(f"bad media line {line!r}")
                port = int(parts[1])
                proto = parts[2]
                fmts = [int(p) for p in parts[3:] if p.isdigit()]
        elif kind == "c":
            parts = value.split()
            if len(parts) >= 3:
                addr = parts[2].split("/")[0]
                if in_audio:
                    media_ip = addr
                elif not seen_audio:
                    session_ip = addr
        elif kind == "a" and (in_audio or not seen_audio):
            name, _, rest = value.partition(":")
            if name == "rtpmap" and in_audio:
                pt_text, _, enc = rest.partition(" ")
                if pt_text.isdigit():
                    rtpmap[int(pt_text)] = enc.strip()
            elif name == "crypto" and in_audio:
                crypto.append(rest.strip())
            elif name in ("sendrecv", "sendonly", "recvonly", "inactive"):
                direction = name
    if port is None:
        raise SdpError("no audio media in SDP answer")
    ip = media_ip or session_ip
    if ip is None:
        raise SdpError("no connection address in SDP answer")
    codec_pt: int | None = None
    codec = ""
    for pt in fmts:
        name = rtpmap.get(pt, "").split("/")[0].upper() or _STATIC_NAMES.get(pt, "")
        if name in usable:
            codec_pt, codec = pt, name
            break
    if codec_pt is None:
        raise SdpError("common audio codec not found")
    dtmf_pt = next(
        (pt for pt in fmts if rtpmap.get(pt, "").lower().startswith("telephone-event/8000")),
        None,
    )
    return Answer(
        ip=ip,
        port=port,
        payload_type=codec_pt,
        codec=codec,
        dtmf_payload_type=dtmf_pt,
        direction=direction,
        rtpmap=rtpmap,
        crypto=crypto,
        proto=proto,
    )
