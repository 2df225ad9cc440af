"""Outbound trunks, inbound trunks and dispatch rules: one model per LiveKit kind (their
fields are described once more, for the wire, in ``sipctl.fields``)."""

from __future__ import annotations

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from sipctl.models.base import (
    CONTROL_CHARS,
    Duration,
    Encryption,
    IncludeHeaders,
    MatchedNumber,
    Metadata,
    PhoneNumber,
    Strict,
    Transport,
    header_map,
    validate_address,
    validate_header_value,
)
from sipctl.secrets import Secret


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
    """``media`` with LiveKit's normalisations, for trunks and dispatch rules alike; and
    ``renamed_from``, the earlier names whose live resource this one keeps (its ID)."""

    media: Media | None = None
    renamed_from: list[str] = Field(default_factory=list)

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
        for name, value in v.items():
            validate_header_value(name, value)
        return header_map(v, "headers", "keys")

    @field_validator("headers_to_attributes")
    @classmethod
    def _h2a(cls, v: dict[str, str]) -> dict[str, str]:
        return header_map(v, "headers_to_attributes", "keys")

    @field_validator("attributes_to_headers")
    @classmethod
    def _a2h(cls, v: dict[str, str]) -> dict[str, str]:
        return header_map(v, "attributes_to_headers", "values")


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

    @field_validator("destination_country")
    @classmethod
    def _country(cls, v: str) -> str:
        # LiveKit stores any text here (no check in livekit/protocol livekit/sip.go
        # SIPOutboundTrunkInfo.ValidateResult); a non-ISO code is a warning (config.lint)
        if CONTROL_CHARS.search(v):
            raise ValueError(f"must not contain control characters (got {v!r})")
        return v


class InboundTrunk(_TrunkCommon):
    """An inbound trunk (``SIPInboundTrunkInfo``)."""

    numbers: list[MatchedNumber] = Field(default_factory=list)
    allowed_addresses: list[str] = Field(default_factory=list)
    allowed_numbers: list[MatchedNumber] = Field(default_factory=list)
    auth: InboundAuth | None = None
    ringing_timeout: Duration | None = None
    # the SIP status LiveKit answers when the ringing times out (livekit-protocol's
    # SIPInboundTrunkInfo.ringing_timeout_status; not yet in every LiveKit server)
    ringing_timeout_status: int | None = Field(default=None, ge=300, le=699)
    max_call_duration: Duration | None = None
    krisp_enabled: bool = False

    @model_validator(mode="after")
    def _secured(self) -> InboundTrunk:
        # LiveKit refuses an inbound trunk that anyone could call into; a username or a
        # password counts (livekit/protocol livekit/sip.go SIPInboundTrunkInfo.
        # ValidateResult). Only both make its SIP service ask callers for them: a warning
        # (sipctl.config.lint).
        auth = self.auth
        has_auth = auth is not None and (bool(auth.username) or auth.password is not None)
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


class AgentDispatch(Strict):
    """An agent LiveKit dispatches into the room (``RoomAgentDispatch``)."""

    agent_name: str
    metadata: str = ""
    deployment: str = ""
    attributes: dict[str, str] = Field(default_factory=dict)


class RoomConfig(Strict):
    """The room a dispatch rule creates (LiveKit ``RoomConfiguration``). ``egress`` is not
    modelled: a live value is kept as it is."""

    name: str = ""
    agents: list[AgentDispatch] = Field(default_factory=list)
    max_participants: int = Field(default=0, ge=0)
    empty_timeout: Duration | None = None
    departure_timeout: Duration | None = None
    metadata: str = ""
    min_playout_delay: Duration | None = None
    max_playout_delay: Duration | None = None
    sync_streams: bool = False
    tags: dict[str, str] = Field(default_factory=dict)

    def is_empty(self) -> bool:
        return self == RoomConfig()


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
    room_config: RoomConfig | None = None
    krisp_enabled: bool = False

    @field_validator("room_config")
    @classmethod
    def _room_config(cls, v: RoomConfig | None) -> RoomConfig | None:
        return None if v is None or v.is_empty() else v


Resource = OutboundTrunk | InboundTrunk | DispatchRule
