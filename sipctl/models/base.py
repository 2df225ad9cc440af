"""What the models share: strict parsing, durations, enums, LiveKit's value rules."""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    WithJsonSchema,
)

from sipctl.durations import format_duration, parse_duration

# LiveKit's psrpc budget for a CreateSIPParticipant that waits for the answer (OSS server).
WAITED_CALL_BUDGET = 80.0

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
DIGITS = re.compile(r"^\d{2,15}$")
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
# RFC 3261 token characters: what a SIP header name may contain.
_TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
SIP_USER = re.compile(r"^[A-Za-z0-9\-_.!~*'()&=+$,;?/%#]+$")


def _duration(value: object) -> float:
    return parse_duration(value)


Duration = Annotated[
    float,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|h|m|s))+$"},
                {"type": "number", "minimum": 0},
            ],
            "description": "A duration: 20s, 1m30s, 500ms (a bare number is seconds).",
        }
    ),
]


class Strict(BaseModel):
    """Unknown fields are errors (with a did-you-mean from the loader)."""

    # defer_build: a model's validator is built when first used, so a plan of outbound
    # trunks alone does not build the dispatch rule and test call models (~8 ms of start).
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=False, defer_build=True)

    def __eq__(self, other: object) -> bool:
        # What pydantic's __eq__ decides for these models (no private attributes, no extra
        # fields, nothing cached in __dict__), without its general path: a plan compares
        # every declared resource with its live twin (a third of a 10,000-trunk diff).
        if type(other) is not type(self):
            return NotImplemented if not isinstance(other, BaseModel) else False
        return self.__dict__ == other.__dict__


class Transport(StrEnum):
    auto = "auto"
    udp = "udp"
    tcp = "tcp"
    tls = "tls"


class Encryption(StrEnum):
    disable = "disable"
    allow = "allow"
    require = "require"


class IncludeHeaders(StrEnum):
    none = "none"
    x_headers = "x_headers"
    all = "all"


# Cached: a pure function of its text, and large configs repeat a few provider addresses
# (10,000 trunks); what it refuses raises, and is not cached.
@functools.lru_cache(maxsize=4096)
def validate_address(value: str, field: str = "address") -> str:
    """What LiveKit accepts for a trunk address: host or host:port, not a SIP URI."""
    v = value.strip()
    if not v:
        raise ValueError("must not be empty")
    low = v.lower()
    if low.startswith(("sip:", "sips:")):
        raise ValueError(f"must be a hostname or IP, not a SIP URI (drop the scheme: {v!r})")
    if "transport=" in low:
        raise ValueError("must not contain a transport parameter: set transport instead")
    if "@" in v:
        raise ValueError(f"must be a hostname or IP without a user part (got {v!r})")
    if ";" in v:
        raise ValueError(f"must be a hostname or IP without URI parameters (got {v!r})")
    host, port = v, ""
    if v.startswith("["):
        end = v.find("]")
        host, port = v[1:end], v[end + 2 :] if end + 1 < len(v) and v[end + 1] == ":" else ""
    elif v.count(":") == 1:
        host, port = v.split(":")
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        raise ValueError(f"has a bad port {port!r} (expected 1-65535)")
    # Only what could be an IP goes to ipaddress (IPv6 has ':', IPv4 only digits and dots):
    # its ValueError for every hostname cost 13 us a trunk (10,000-trunk configs).
    if ":" in host or host.replace(".", "").isdigit():
        try:
            ipaddress.ip_address(host)
            return v
        except ValueError:
            pass
    labels = host.rstrip(".").split(".")
    if not all(_HOST_LABEL.match(label) for label in labels):
        raise ValueError(f"is not a valid hostname or IP (got {v!r})")
    return v


# Control characters (TAB aside) never belong in a SIP message; sipctl refuses them
# wherever a value ends up in one (also: they would break the plan's one-line fields).
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def validate_number(value: str) -> str:
    """An outbound trunk's number (the caller ID): what LiveKit can dial from. LiveKit
    stores any text (livekit/protocol livekit/sip.go SIPOutboundTrunkInfo.ValidateResult
    checks only that the list is not empty), but its SIP service refuses to dial from an
    empty number or a SIP URI (livekit/sip pkg/sip/client.go buildLegacyURI). What it
    accepts but is probably a mistake (formatting, a SIP user) is a warning
    (sipctl.config.lint)."""
    if E164.match(value) or DIGITS.match(value):
        return value
    if not value.strip():
        raise ValueError("must not be empty (LiveKit's SIP service refuses to dial from it)")
    if "@" in value:
        raise ValueError(
            "must be a phone number or SIP user, not a SIP URI (LiveKit's SIP service "
            f"refuses to dial from one; got {value!r})"
        )
    return validate_matched_number(value)


def validate_matched_number(value: str) -> str:
    """An inbound trunk's number or allowed number: LiveKit stores any text and compares
    it with the called or calling user of each call (livekit/protocol sip/sip.go
    MatchTrunkDetailed, matchNumbers); sipctl refuses only control characters. What can
    never match is a warning (sipctl.config.lint)."""
    if CONTROL_CHARS.search(value):
        raise ValueError(f"must not contain control characters (got {value!r})")
    return value


PhoneNumber = Annotated[str, AfterValidator(validate_number)]
MatchedNumber = Annotated[str, AfterValidator(validate_matched_number)]


# Headers LiveKit refuses to let a trunk set, and their compact forms (livekit/protocol
# livekit/sip_validation.go ForbiddenSipHeaderNames, checked by ValidateHeaderName).
FORBIDDEN_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "allow",
        "allow-events",
        "call-id",
        "contact",
        "content-encoding",
        "content-length",
        "content-type",
        "cseq",
        "event",
        "expires",
        "from",
        "max-forwards",
        "record-route",
        "refer-to",
        "reply-to",
        "k",
        "l",
        "m",
        "o",
        "r",
        "t",
        "u",
        "v",
    }
)
# Deprecated there (a soft failure, LiveKit still accepts them): a warning here.
DEPRECATED_HEADERS = frozenset({"to", "via"})


def header_map(value: dict[str, str], what: str, names_are: str) -> dict[str, str]:
    for k, v in value.items():
        name = k if names_are == "keys" else v
        if not _TOKEN.match(name) or len(name) > 255:
            raise ValueError(f"{what}: {name!r} is not a valid SIP header name")
        if names_are == "keys" and what == "headers" and name.lower() in FORBIDDEN_HEADERS:
            raise ValueError(f"headers: LiveKit refuses to set the SIP header {name!r}")
        # attributes_to_headers may name them: LiveKit checks the name only
        # (livekit/protocol livekit/sip.go validateAttributesToHeaders); config.lint warns
    return value


def validate_header_value(name: str, value: str) -> None:
    """What LiveKit refuses in a header value (livekit/protocol livekit/sip_validation.go
    ValidateHeaderValueResult: printable ASCII, TAB and UTF-8, at most 1024 bytes). TAB
    and UTF-8 are accepted; sipctl.config.lint warns about them."""
    if value.isascii() and value.isprintable() and len(value) <= 1024:
        return  # the common case, in one pass of C
    if CONTROL_CHARS.search(value):
        raise ValueError(
            f"headers: the value of {name!r} has a control character, which LiveKit refuses "
            "(printable characters and TAB only)"
        )
    if len(value.encode()) > 1024:
        raise ValueError(
            f"headers: the value of {name!r} is longer than LiveKit's limit of 1024 bytes"
        )


def normalize_metadata(value: object) -> dict[str, Any] | str:
    """Metadata as LiveKit keeps it (a string), written as a YAML mapping (stored as a JSON
    object), JSON-object text (the same) or any other text (stored as it is)."""
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = None
        return parsed if isinstance(parsed, dict) else value
    raise ValueError("must be a mapping or a string")


Metadata = Annotated[
    dict[str, Any] | str,
    BeforeValidator(normalize_metadata),
    WithJsonSchema(
        {
            "oneOf": [{"type": "object"}, {"type": "string"}],
            "description": "Your metadata: a mapping (stored as a JSON object) or text.",
        }
    ),
]
