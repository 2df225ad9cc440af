"""What the SIP bridge checks and builds before it dials: codecs, Request-URI, From, To.

livekit/sip ``pkg/sip/client.go`` createSIPParticipant runs, before the participant
joins: ``newMediaConfig`` (``media_codecs.go`` codecSet: a codec without a known default
rate is an error, answered as Twirp ``unknown``) and ``buildOutboundHeaders``
(buildRequestURI / buildToHeader / buildFromHeader with buildLegacyURI, buildRawURI and
buildValuesURI; each failure is ``invalid_argument`` "invalid request URI: ...",
"invalid To header: ..." or "invalid From header: ...").
"""

from __future__ import annotations

from dataclasses import dataclass

from livekit.protocol.sip import CreateSIPParticipantRequest, SIPNamedDest, SIPRequestDest

from sipctl.sandbox.errors import TwirpError
from sipctl.sandbox.media import MediaSettings
from sipctl.sandbox.sip.message import Address, SipParseError, SipURI, parse_hostport
from sipctl.sandbox.sip.sdp import DEFAULT_CODECS, offer_codecs
from sipctl.sandbox.sip.status import psrpc_error

_TRANSPORT_NAME = {1: "udp", 2: "tcp", 3: "tls"}
# media_codecs.go codecSet: default rates when a codec is listed without one
_DEFAULT_RATES = {"PCMA": 8000, "PCMU": 8000, "G722": 8000, "AMR-WB": 16000}
_TOKEN_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-.!%*_+`'~")


def codec_set(media: MediaSettings) -> dict[int, str]:
    """The offer's codecs (payload type -> name/rate) for the merged media settings."""
    enabled: list[str] = [] if media.only_listed_codecs else list(DEFAULT_CODECS)
    if media.only_listed_codecs and not media.codecs:
        raise psrpc_error("unknown", "no codecs specified")
    for name, rate in media.codecs:
        if not name:
            raise psrpc_error("unknown", "no codec name specified")
        if rate == 0:
            default = _DEFAULT_RATES.get(name.upper() if name.upper() in _DEFAULT_RATES else name)
            if default is None:
                raise psrpc_error(
                    "unknown", f'sample rate not specified for codec: "{_go_escape(name)}"'
                )
            rate = default
        enabled.append(f"{name}/{rate}")
    return offer_codecs(enabled)


def _go_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


@dataclass
class OutboundHeaders:
    request_uri: SipURI
    from_: Address
    to: Address


def _with_transport(uri: SipURI, transport: int) -> SipURI:
    # setUriTransport: any explicit transport goes into the URI
    if transport in _TRANSPORT_NAME:
        uri.params["transport"] = _TRANSPORT_NAME[transport]
    return uri


def _legacy(user: str, addr: str, transport: int) -> SipURI:
    """buildLegacyURI."""
    if not user:
        raise ValueError("number must be set")
    if "@" in user:
        raise ValueError("should be a phone number or SIP user, not a full SIP URI")
    if not addr:
        raise ValueError("address must be set")
    if addr.startswith(("sip:", "sips:")):
        raise ValueError("address must be a hostname without 'sip:' prefix")
    if "transport=" in addr:
        raise ValueError("legacy address must not contain parameters; use transport field")
    if ";" in addr or "=" in addr:
        raise ValueError("legacy address must not contain parameters")
    try:
        host, port = parse_hostport(addr)
    except SipParseError:
        host, port = addr, None
    return _with_transport(SipURI(host=host, user=user, port=port), transport)


def _raw(raw: str, transport: int, what: str) -> SipURI:
    """buildRawURI."""
    if len(raw) >= 2 and raw[0] == "<" and raw[-1] == ">":
        raw = raw[1:-1]
    try:
        uri = SipURI.parse(raw if raw.startswith(("sip:", "sips:")) else "sip:" + raw)
    except SipParseError:
        raise ValueError(what) from None
    return _with_transport(uri, transport)


def _values(u: object, transport: int) -> SipURI:
    """buildValuesURI."""
    ut = int(getattr(u, "transport", 0))
    if transport != ut:
        if ut == 0:
            pass
        elif transport == 0:
            transport = ut
        else:
            names = {0: "SIP_TRANSPORT_AUTO", 1: "SIP_TRANSPORT_UDP", 2: "SIP_TRANSPORT_TCP"}
            names[3] = "SIP_TRANSPORT_TLS"
            raise ValueError(f"different transports specified: {names[transport]} vs {names[ut]}")
    user, host, ip = getattr(u, "user", ""), getattr(u, "host", ""), getattr(u, "ip", "")
    if not user:
        raise ValueError("username or number must be set")
    if not host and not ip:
        raise ValueError("host or ip must be set")
    host = host or ip
    if ":" in host.strip("[]") and host.count(":") == 1:
        raise ValueError("host or ip must not contain port")
    port = int(getattr(u, "port", 0)) or None
    return _with_transport(SipURI(host=host, user=user, port=port), transport)


def _dest(u: SIPRequestDest | SIPNamedDest, legacy_user: str, legacy_addr: str, tr: int) -> SipURI:
    kind = u.WhichOneof("uri")
    if kind == "raw":
        return _raw(u.raw, tr, "invalid request URI")
    if kind == "values":
        return _values(u.values, tr)
    raise ValueError("invalid request URI type")


def build_headers(
    req: CreateSIPParticipantRequest, address: str, transport: int, number: str, from_host: str
) -> OutboundHeaders:
    """buildOutboundHeaders; raises the bridge's ``invalid_argument`` Twirp error."""
    call_to = req.sip_call_to
    try:
        if req.HasField("sip_request_uri"):
            ruri = _dest(req.sip_request_uri, call_to, address, transport)
        else:
            ruri = _legacy(call_to, address, transport)
    except ValueError as e:
        raise psrpc_error("invalid_argument", f"invalid request URI: {e}") from None
    try:
        if req.HasField("sip_to_header"):
            if call_to:
                raise ValueError("cannot use both CallTo and SipToHeader")
            to_uri = _dest(req.sip_to_header, call_to, address, transport)
            to_display: str | None = req.sip_to_header.display_name or None
        else:
            to_uri = _legacy(call_to, address, transport)
            to_display = None
        if req.to_user_override:
            if any(c not in _TOKEN_CHARS for c in req.to_user_override):
                raise ValueError(
                    "to user override should be a phone number or SIP user, not a full SIP URI"
                )
            to_uri.user = req.to_user_override
    except ValueError as e:
        raise psrpc_error("invalid_argument", f"invalid To header: {e}") from None
    try:
        if req.HasField("sip_from_header"):
            from_uri = _dest(req.sip_from_header, number, from_host, transport)
            display: str | None = req.sip_from_header.display_name or None
        else:
            from_uri = _legacy(number, from_host, transport)
            # display_name if set (empty: none), else the number (legacy behaviour)
            has_name = req.HasField("display_name")
            display = (req.display_name or None) if has_name else from_uri.user
    except ValueError as e:
        raise psrpc_error("invalid_argument", f"invalid From header: {e}") from None
    return OutboundHeaders(ruri, Address(from_uri, display), Address(to_uri, to_display))


__all__ = ["OutboundHeaders", "TwirpError", "build_headers", "codec_set"]
