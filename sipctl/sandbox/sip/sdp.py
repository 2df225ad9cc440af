"""SDP offer/answer for one audio stream (RFC 4566, RFC 3264): PCMU, PCMA, telephone-event."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

# static payload types (RFC 3551) and our dynamic one for RFC 4733 events
PCMU = 0
PCMA = 8
TELEPHONE_EVENT = 101
OFFERED_CODECS: dict[int, str] = {PCMU: "PCMU/8000", PCMA: "PCMA/8000"}
_STATIC_NAMES = {PCMU: "PCMU", PCMA: "PCMA"}


class SdpError(ValueError):
    """An answer we cannot use (no audio, no common codec, garbage)."""


def make_offer(ip: str, port: int, session_id: int | None = None) -> bytes:
    sid = session_id if session_id is not None else secrets.randbits(62)
    fmts = " ".join(str(pt) for pt in [*OFFERED_CODECS, TELEPHONE_EVENT])
    lines = [
        "v=0",
        f"o=LiveKit {sid} {sid} IN IP4 {ip}",
        "s=LiveKit",
        f"c=IN IP4 {ip}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {fmts}",
        *(f"a=rtpmap:{pt} {name}" for pt, name in OFFERED_CODECS.items()),
        f"a=rtpmap:{TELEPHONE_EVENT} telephone-event/8000",
        f"a=fmtp:{TELEPHONE_EVENT} 0-16",
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


def parse_answer(body: bytes) -> Answer:
    """Pick the first offered codec the answer accepts; find its telephone-event PT."""
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
        if name in ("PCMU", "PCMA"):
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
    )
