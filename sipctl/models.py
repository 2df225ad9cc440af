"""The resource and test-call models shared by the config loader and the LiveKit adapter.

The YAML produces these (desired state); the adapter maps live protobufs to the same
classes (actual state); the diff compares the two. Field names follow LiveKit's
``SIPOutboundTrunkInfo`` / ``SIPInboundTrunkInfo`` / ``SIPDispatchRuleInfo`` except where
YAML reads better (``auth: {username, password}``, ``media.encryption``, enums in lower case).
"""

from __future__ import annotations

import ipaddress
import json
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from sipctl.countries import ISO_3166_ALPHA2
from sipctl.durations import format_duration, parse_duration
from sipctl.schedule import Schedule
from sipctl.secrets import Secret

# LiveKit's psrpc budget for a CreateSIPParticipant that waits for the answer (OSS server).
WAITED_CALL_BUDGET = 80.0

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
DIGITS = re.compile(r"^\d{2,15}$")
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
# RFC 3261 token characters: what a SIP header name may contain.
_TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
_SIP_USER = re.compile(r"^[A-Za-z0-9\-_.!~*'()&=+$,;?/%#]+$")


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

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=False)


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
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.rstrip(".").split(".")
        if not all(_HOST_LABEL.match(label) for label in labels):
            raise ValueError(f"is not a valid hostname or IP (got {v!r})") from None
    return v


def validate_number(value: str) -> str:
    """E.164, or digits only (some providers want no '+'; the loader warns). Else error."""
    if E164.match(value) or DIGITS.match(value):
        return value
    raise ValueError(f"must be an E.164 number such as +15105550123 (got {value!r})")


PhoneNumber = Annotated[str, AfterValidator(validate_number)]


def _header_map(value: dict[str, str], what: str, names_are: str) -> dict[str, str]:
    for k, v in value.items():
        name = k if names_are == "keys" else v
        if not _TOKEN.match(name) or len(name) > 255:
            raise ValueError(f"{what}: {name!r} is not a valid SIP header name")
    return value


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


class Auth(Strict):
    username: str = ""
    password: Secret | None = None


class InboundAuth(Auth):
    realm: str = ""


class Codec(Strict):
    name: str
    rate: int = 0

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: object) -> object:
        # "PCMU" or "PCMU/8000" are accepted shorthands.
        if isinstance(value, str):
            name, _, rate = value.partition("/")
            return {"name": name, "rate": int(rate) if rate.isdigit() else rate or 0}
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v or any(c.isspace() for c in v) or "/" in v:
            raise ValueError("must be a codec name without spaces or '/'")
        return v


class Media(Strict):
    codecs: list[Codec] = Field(default_factory=list)
    only_listed_codecs: bool = False
    encryption: Encryption | None = None
    media_timeout: Duration | None = None

    @field_validator("media_timeout")
    @classmethod
    def _timeout(cls, v: float | None) -> float | None:
        if v is not None and v > 600:
            raise ValueError("must be at most 10m (LiveKit's limit)")
        return v

    def is_empty(self) -> bool:
        return self == Media()


def _media_alias(data: object) -> object:
    """``media_encryption`` (deprecated in LiveKit) is an alias of ``media.encryption``."""
    if isinstance(data, dict) and "media_encryption" in data:
        data = dict(data)
        enc = data.pop("media_encryption")
        media = data.get("media")
        media = dict(media) if isinstance(media, dict) else {}
        media.setdefault("encryption", enc)
        data["media"] = media
    return data


class _WithMedia(Strict):
    """``media`` with LiveKit's normalisations, for trunks and dispatch rules alike."""

    media: Media | None = None

    @model_validator(mode="before")
    @classmethod
    def _alias(cls, data: object) -> object:
        return _media_alias(data)

    @field_validator("media")
    @classmethod
    def _media(cls, v: Media | None) -> Media | None:
        # LiveKit treats an empty media config like an absent one.
        return None if v is None or v.is_empty() else v


class _TrunkCommon(_WithMedia):
    metadata: Metadata = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    headers_to_attributes: dict[str, str] = Field(default_factory=dict)
    attributes_to_headers: dict[str, str] = Field(default_factory=dict)
    include_headers: IncludeHeaders = IncludeHeaders.none

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, str]) -> dict[str, str]:
        for value in v.values():
            if len(value) > 1024 or not all(32 <= ord(c) < 127 for c in value):
                raise ValueError("header values must be printable ASCII, at most 1024 chars")
        return _header_map(v, "headers", "keys")

    @field_validator("headers_to_attributes")
    @classmethod
    def _h2a(cls, v: dict[str, str]) -> dict[str, str]:
        return _header_map(v, "headers_to_attributes", "keys")

    @field_validator("attributes_to_headers")
    @classmethod
    def _a2h(cls, v: dict[str, str]) -> dict[str, str]:
        return _header_map(v, "attributes_to_headers", "values")


class OutboundTrunk(_TrunkCommon):
    """An outbound trunk (``SIPOutboundTrunkInfo``); its YAML key is its live ``name``."""

    address: str
    transport: Transport = Transport.auto
    numbers: list[PhoneNumber] = Field(min_length=1)
    auth: Auth | None = None
    destination_country: str = ""
    from_host: str = ""

    @field_validator("address")
    @classmethod
    def _address(cls, v: str) -> str:
        return validate_address(v)

    @field_validator("from_host")
    @classmethod
    def _from_host(cls, v: str) -> str:
        return validate_address(v, "from_host") if v else v

    @field_validator("numbers")
    @classmethod
    def _numbers(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("lists a number twice")
        return v

    @field_validator("destination_country")
    @classmethod
    def _country(cls, v: str) -> str:
        if v and v not in ISO_3166_ALPHA2:
            hint = " (use upper case)" if v.upper() in ISO_3166_ALPHA2 else ""
            raise ValueError(f"must be an ISO 3166-1 alpha-2 country code{hint} (got {v!r})")
        return v


class InboundTrunk(_TrunkCommon):
    """An inbound trunk (``SIPInboundTrunkInfo``)."""

    numbers: list[PhoneNumber] = Field(default_factory=list)
    allowed_addresses: list[str] = Field(default_factory=list)
    allowed_numbers: list[PhoneNumber] = Field(default_factory=list)
    auth: InboundAuth | None = None
    ringing_timeout: Duration | None = None
    max_call_duration: Duration | None = None
    krisp_enabled: bool = False

    @model_validator(mode="after")
    def _secured(self) -> InboundTrunk:
        # LiveKit refuses an inbound trunk that anyone could call into.
        has_auth = self.auth is not None and bool(self.auth.username)
        if not (has_auth or self.allowed_addresses or self.numbers):
            raise ValueError(
                "for security, set one of numbers, allowed_addresses or auth "
                "(LiveKit refuses an open inbound trunk)"
            )
        return self


class RuleDirect(Strict):
    room_name: str
    pin: str = ""


class RuleIndividual(Strict):
    room_prefix: str = ""
    pin: str = ""
    no_randomness: bool = False


class RuleCallee(Strict):
    room_prefix: str = ""
    pin: str = ""
    randomize: bool = False


class Rule(Strict):
    """Exactly one of ``direct``, ``individual``, ``callee``."""

    direct: RuleDirect | None = None
    individual: RuleIndividual | None = None
    callee: RuleCallee | None = None

    @model_validator(mode="after")
    def _one(self) -> Rule:
        set_ = [k for k in ("direct", "individual", "callee") if getattr(self, k) is not None]
        if len(set_) != 1:
            raise ValueError("must set exactly one of direct, individual, callee")
        return self


class DispatchRule(_WithMedia):
    """A dispatch rule (``SIPDispatchRuleInfo``); ``trunks`` names inbound trunks by YAML key."""

    rule: Rule
    trunks: list[str] = Field(default_factory=list)
    hide_phone_number: bool = False
    inbound_numbers: list[str] = Field(default_factory=list)
    numbers: list[str] = Field(default_factory=list)
    metadata: Metadata = Field(default_factory=dict)
    attributes: dict[str, str] = Field(default_factory=dict)
    room_preset: str = ""
    krisp_enabled: bool = False


class ExpectStatus(Strict):
    sip_status: int = Field(ge=300, le=699)


class ExpectRingsOut(Strict):
    """The number rings and nobody answers within the ring window (sipctl stops it)."""

    rings_out: Literal[True]


# The real-time SDK comes with the audio extra; the base install stays free of it.
AUDIO_INSTALL = "pip install 'sipctl[audio]'"


def _rtc_sdk_installed() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("livekit.rtc") is not None
    except (ImportError, ValueError):
        return False


def _share(value: object) -> float:
    """``50%`` or a fraction (0.5)."""
    if isinstance(value, str):
        text = value.strip()
        if not text.endswith("%"):
            raise ValueError(f"must be a percentage like 50% (got {value!r})")
        try:
            number = float(text[:-1])
        except ValueError:
            raise ValueError(f"must be a percentage like 50% (got {value!r})") from None
        value = number / 100
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a percentage like 50% (got {value!r})")
    if not 0 < value <= 1:
        raise ValueError("must be more than 0% and at most 100%")
    return float(value)


Share = Annotated[
    float,
    BeforeValidator(_share),
    PlainSerializer(lambda v: f"{v * 100:g}%", return_type=str),
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "string", "pattern": r"^\d+(\.\d+)?%$"},
                {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            ],
            "description": "A share: 50% (or 0.5).",
        }
    ),
]


class AudioCheck(Strict):
    """What a test call must hear in the room (sipctl.audio judges it; needs the audio extra).

    ``tone``: ``frequency`` dominant; ``sound``: anything above silence; ``echo``: sipctl's
    own signal back from the far end (an echo line), with the round-trip delay. Each for
    at least ``min_active`` of the time sipctl was subscribed.
    """

    expect: Literal["tone", "sound", "echo"]
    frequency: float | None = Field(default=None, gt=0, lt=4000)  # G.711 carries < 4 kHz
    min_active: Share = 0.5

    @model_validator(mode="after")
    def _check(self) -> AudioCheck:
        if self.frequency is not None and self.expect != "tone":
            raise ValueError("frequency applies to expect: tone only")
        if not _rtc_sdk_installed():
            raise ValueError(f"audio checks need the LiveKit real-time SDK: {AUDIO_INSTALL}")
        return self

    @property
    def tone_hz(self) -> float:
        return 1004.0 if self.frequency is None else self.frequency  # the milliwatt tone


class Arrive(Strict):
    """How an inbound test call must come back into LiveKit (issue #15): through this
    declared inbound trunk and dispatch rule, within ``within`` of being placed."""

    inbound_trunk: str
    dispatch_rule: str
    within: Duration = 15.0

    @field_validator("within")
    @classmethod
    def _within(cls, v: float) -> float:
        if not 0 < v < WAITED_CALL_BUDGET:
            raise ValueError(f"must be more than 0s and less than {WAITED_CALL_BUDGET:g}s")
        return v


# An arrive call is judged on arrival, never answered (LiveKit rings an inbound call until
# someone in the room subscribes: livekit/sip inbound.go waitSubscribe): these do not apply.
NOT_WITH_ARRIVE = ("expect", "answer_within", "hold", "dtmf", "audio")


class TestCall(Strict):
    """A test call: dial ``to`` through ``trunk`` and judge the outcome against ``expect``."""

    __test__ = False  # not a pytest test class

    trunk: str
    to: str
    from_: str | None = Field(default=None, alias="from")
    expect: Literal["answered"] | ExpectStatus | ExpectRingsOut = "answered"
    answer_within: Duration | None = None
    degraded_after: Duration | None = None
    ringing_timeout: Duration = 30.0
    hold: Duration = 2.0
    dtmf: str = ""
    schedule: str | None = None
    verify_on_apply: bool = True
    retries: int = Field(default=0, ge=0, le=10)
    tags: list[str] = Field(default_factory=list)
    audio: AudioCheck | None = None
    arrive: Arrive | None = None

    @field_validator("to")
    @classmethod
    def _to(cls, v: str) -> str:
        if E164.match(v) or DIGITS.match(v):
            return v
        if v.lower().startswith(("sip:", "sips:")) or "@" in v:
            raise ValueError(f"must be a phone number or SIP user, not a SIP URI (got {v!r})")
        if not _SIP_USER.match(v):
            raise ValueError(f"must be an E.164 number or a SIP user (got {v!r})")
        return v

    @field_validator("dtmf")
    @classmethod
    def _dtmf(cls, v: str) -> str:
        if any(c not in "0123456789*#ABCDabcdw" for c in v):
            raise ValueError("may only contain 0-9 * # A-D and w (a 0.5 s pause)")
        return v

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str | None) -> str | None:
        return None if v is None else Schedule.parse(v)

    @field_validator("ringing_timeout")
    @classmethod
    def _ringing(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be positive")
        return v

    @model_validator(mode="after")
    def _arrive(self) -> TestCall:
        if self.arrive is not None:
            clash = [f for f in NOT_WITH_ARRIVE if f in self.model_fields_set]
            if clash:
                raise ValueError(
                    f"{' and '.join(clash)} cannot be used with arrive: an arrive call is "
                    "judged on arrival and never answered"
                )
        return self

    @model_validator(mode="after")
    def _budget(self) -> TestCall:
        if self.ringing_timeout + self.hold >= WAITED_CALL_BUDGET:
            raise ValueError(
                f"ringing_timeout + hold must stay under LiveKit's {WAITED_CALL_BUDGET:g}s "
                f"budget for a waited call (got {self.ringing_timeout:g}s + {self.hold:g}s)"
            )
        if self.answer_within is not None and self.answer_within > self.ringing_timeout:
            raise ValueError("answer_within must not exceed ringing_timeout")
        if self.audio is not None and self.audio.expect == "echo" and self.hold < 3:
            # sipctl.audio.MIN_ECHO_SECONDS: less and a shifted stretch of the pattern fits
            raise ValueError(f"audio expect: echo needs a hold of at least 3s (got {self.hold:g}s)")
        if self.degraded_after is not None and self.degraded_after >= self.effective_answer_within:
            raise ValueError("degraded_after must be less than answer_within")
        return self

    @property
    def effective_answer_within(self) -> float:
        return self.answer_within if self.answer_within is not None else self.ringing_timeout

    @property
    def expected_status(self) -> int | None:
        return self.expect.sip_status if isinstance(self.expect, ExpectStatus) else None

    @property
    def rings_out(self) -> bool:
        return isinstance(self.expect, ExpectRingsOut)


class TestCallDefaults(Strict):
    """Defaults applied to every test call that does not set the field itself."""

    __test__ = False  # not a pytest test class

    ringing_timeout: Duration | None = None
    hold: Duration | None = None
    answer_within: Duration | None = None
    degraded_after: Duration | None = None
    retries: int | None = Field(default=None, ge=0, le=10)
    verify_on_apply: bool | None = None


OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


class Settings(Strict):
    owner: str | None = None
    allow_literal_secrets: bool = False
    prune: bool = False
    max_update_percent: float = Field(default=30.0, ge=0, le=100)
    max_delete_percent: float = Field(default=30.0, ge=0, le=100)
    safety_min_resources: int = Field(default=10, ge=0)
    parallelism: int = Field(default=8, ge=1, le=256)
    check_parallelism: int = Field(default=4, ge=1, le=256)
    max_calls_per_trunk: int = Field(default=2, ge=1)
    max_calls_per_hour: int = Field(default=120, ge=1)
    failure_threshold: int = Field(default=1, ge=1)
    jitter: Duration = 1.0
    # the SIP header on every probe's INVITE, its value the test call's name
    probe_header: str = Field(default="X-Sipctl-Probe", pattern=r"^[Xx]-[A-Za-z0-9-]+$")
    # check --watch re-plans on this schedule and exports the drift (off when unset)
    drift_schedule: str | None = None
    # LiveKit's SIP bridge ends an answered call that never sent RTP after this long
    # (livekit/sip config media_timeout_initial, 30 s by default): a call LiveKit ends
    # then, without a hangup from the far end, is judged no_media
    media_timeout_initial: Duration = 30.0
    test_call_defaults: TestCallDefaults = Field(default_factory=TestCallDefaults)

    @field_validator("drift_schedule")
    @classmethod
    def _drift_schedule(cls, v: str | None) -> str | None:
        return None if v is None else Schedule.parse(v)

    @field_validator("owner")
    @classmethod
    def _owner(cls, v: str | None) -> str | None:
        if v is not None and not OWNER.match(v):
            raise ValueError(
                "must be a short name of letters, digits, '.', '_' or '-' such as prod or "
                f"staging (got {v!r})"
            )
        return v


class ConfigFile(Strict):
    """One YAML file of the config directory (every section optional)."""

    outbound_trunks: dict[str, OutboundTrunk] = Field(default_factory=dict)
    inbound_trunks: dict[str, InboundTrunk] = Field(default_factory=dict)
    dispatch_rules: dict[str, DispatchRule] = Field(default_factory=dict)
    test_calls: dict[str, TestCall] = Field(default_factory=dict)
    settings: Settings = Field(default_factory=Settings)


SECTIONS = ("outbound_trunks", "inbound_trunks", "dispatch_rules", "test_calls")
Resource = OutboundTrunk | InboundTrunk | DispatchRule
