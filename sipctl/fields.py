"""One description per resource field: the table every layer reads.

For each resource kind, one row per field says how it maps to LiveKit's protobuf (both
ways: ``sipctl.livekit.mapping``), whether LiveKit's ``Update…`` can send it or a replace
is needed (and with which keyword of the SDK's ``update_*_fields``), its canonical form
(sorted or not, the default a create does not show), its place in plan output (the row
order) and whether ``sipctl import`` writes it. The canonical form (``sipctl.canonical``),
the update/replace choice (``sipctl.diff``), the adapter's update arguments, the plan's
field order and the importer all walk these tables: adding a field means the model and
its row, nothing else (when its value is of a kind listed in :class:`Value`).

The kinds themselves (section names, titles) have their home here too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, Literal

from pydantic import BaseModel

from sipctl.models import (
    DispatchRule,
    Encryption,
    InboundTrunk,
    IncludeHeaders,
    OutboundTrunk,
    Transport,
)

Kind = Literal["outbound_trunk", "inbound_trunk", "dispatch_rule"]
KINDS: tuple[Kind, ...] = ("outbound_trunk", "inbound_trunk", "dispatch_rule")
SECTION_OF: dict[str, str] = {
    "outbound_trunk": "outbound_trunks",
    "inbound_trunk": "inbound_trunks",
    "dispatch_rule": "dispatch_rules",
}
TITLE: dict[str, str] = {
    "outbound_trunk": "outbound trunk",
    "inbound_trunk": "inbound trunk",
    "dispatch_rule": "dispatch rule",
}
MODEL_OF: dict[str, type[BaseModel]] = {
    "outbound_trunk": OutboundTrunk,
    "inbound_trunk": InboundTrunk,
    "dispatch_rule": DispatchRule,
}
# The ID field of each kind's protobuf.
ID_FIELD: dict[str, str] = {
    "outbound_trunk": "sip_trunk_id",
    "inbound_trunk": "sip_trunk_id",
    "dispatch_rule": "sip_dispatch_rule_id",
}


def describe(kind: str, name: str, rid: str | None = None) -> str:
    """``outbound trunk 'acme-us' (ST_…)``: how messages name a resource."""
    return f"{TITLE.get(kind, kind)} {name!r}" + (f" ({rid})" if rid else "")


class Value(Enum):
    """How a value crosses to protobuf and what its canonical form is."""

    STR = "str"  # string; canonical: the string ("" unset)
    BOOL = "bool"
    INT = "int"  # an integer; 0 is unset
    LIST = "list"  # repeated string; canonical: a list (sorted when ``sort``)
    MAP = "map"  # map<string,string>; canonical: a dict
    ENUM = "enum"  # a protobuf enum; ``enum`` lists the members in protobuf number order
    DURATION = "duration"  # google.protobuf.Duration; canonical: seconds, None unset
    SECRET = "secret"  # a password: never in the canonical form (compared by fingerprint)
    METADATA = "metadata"  # the user's metadata, beside sipctl's ownership marker
    MEDIA = "media"  # SIPMediaConfig (and the deprecated media_encryption)
    RULE = "rule"  # the SIPDispatchRule oneof
    TRUNKS = "trunks"  # trunk_ids, written in YAML as inbound trunk names
    ROOM_CONFIG = "room_config"  # RoomConfiguration (durations in s, playout delays in ms)


@dataclass(frozen=True)
class FieldSpec:
    path: str  # the model's field (``auth.username`` inside the nested ``auth``)
    proto: str  # the field of the kind's ``SIP*Info``
    value: Value
    # the keyword of the SDK's update_*_fields that sends it; None: only a replace can
    update: str | None = None
    sort: bool = False  # canonical form sorted: LiveKit ignores the order
    default: Any = None  # canonical value a create does not show (besides empty values)
    enum: type[StrEnum] | None = None
    imported: bool = True  # `sipctl import` writes it (when not the default)
    # a difference after a write: a failure, or only a warning for a field some LiveKit
    # servers do not know yet (they drop it)
    readback: str = "fail"

    # cached: canonical() and the mapping ask for them per field and resource (2.6 million
    # calls at 10,000 trunks)
    @functools.cached_property
    def group(self) -> str:
        """The nested model holding it (``auth``), or "" for a top-level field."""
        head, dot, _ = self.path.partition(".")
        return head if dot else ""

    @functools.cached_property
    def leaf(self) -> str:
        return self.path.rpartition(".")[2]


_S, _B, _L, _M = Value.STR, Value.BOOL, Value.LIST, Value.MAP

# Rows in plan-output order. Headers and media rows are shared by the three kinds.
_HEADERS = (
    FieldSpec("headers", "headers", _M),
    FieldSpec("headers_to_attributes", "headers_to_attributes", _M),
    FieldSpec("attributes_to_headers", "attributes_to_headers", _M),
    FieldSpec(
        "include_headers", "include_headers", Value.ENUM, default="none", enum=IncludeHeaders
    ),
)
_MEDIA = FieldSpec("media", "media", Value.MEDIA, update="media")
_METADATA = FieldSpec("metadata", "metadata", Value.METADATA, update="metadata")

OUTBOUND: tuple[FieldSpec, ...] = (
    FieldSpec("address", "address", _S, update="address"),
    FieldSpec(
        "transport", "transport", Value.ENUM, update="transport", default="auto", enum=Transport
    ),
    FieldSpec("numbers", "numbers", _L, update="numbers", sort=True),
    FieldSpec("auth.username", "auth_username", _S, update="auth_username"),
    FieldSpec("auth.password", "auth_password", Value.SECRET, update="auth_password"),
    FieldSpec("destination_country", "destination_country", _S),
    FieldSpec("from_host", "from_host", _S),
    *_HEADERS,
    _MEDIA,
    _METADATA,
)

INBOUND: tuple[FieldSpec, ...] = (
    FieldSpec("numbers", "numbers", _L, update="numbers", sort=True),
    FieldSpec("allowed_addresses", "allowed_addresses", _L, update="allowed_addresses", sort=True),
    FieldSpec("allowed_numbers", "allowed_numbers", _L, update="allowed_numbers", sort=True),
    FieldSpec("auth.username", "auth_username", _S, update="auth_username"),
    FieldSpec("auth.password", "auth_password", Value.SECRET, update="auth_password"),
    FieldSpec("auth.realm", "auth_realm", _S),
    *_HEADERS,
    FieldSpec("ringing_timeout", "ringing_timeout", Value.DURATION),
    # in livekit-protocol (the SDK) but not yet in livekit/protocol's proto or the OSS
    # server: a server that drops it gives a read-back warning
    FieldSpec("ringing_timeout_status", "ringing_timeout_status", Value.INT, readback="warn"),
    FieldSpec("max_call_duration", "max_call_duration", Value.DURATION),
    FieldSpec("krisp_enabled", "krisp_enabled", _B),
    _MEDIA,
    _METADATA,
)

DISPATCH: tuple[FieldSpec, ...] = (
    FieldSpec("rule", "rule", Value.RULE, update="rule"),
    FieldSpec("trunks", "trunk_ids", Value.TRUNKS, update="trunk_ids", sort=True),
    FieldSpec("inbound_numbers", "inbound_numbers", _L, sort=True),
    FieldSpec("numbers", "numbers", _L, sort=True),
    FieldSpec("hide_phone_number", "hide_phone_number", _B),
    # update merges attributes: a removed key is sent with an empty value
    FieldSpec("attributes", "attributes", _M, update="attributes"),
    FieldSpec("room_preset", "room_preset", _S),
    # update_dispatch_rule_fields has no room_config: a change is a replace
    FieldSpec("room_config", "room_config", Value.ROOM_CONFIG),
    FieldSpec("krisp_enabled", "krisp_enabled", _B),
    FieldSpec("media", "media", Value.MEDIA),  # update_dispatch_rule_fields has no media
    _METADATA,
)

FIELDS: dict[str, tuple[FieldSpec, ...]] = {
    "outbound_trunk": OUTBOUND,
    "inbound_trunk": INBOUND,
    "dispatch_rule": DISPATCH,
}

# Protobuf fields no row covers, each with the reason. ``carried``: copied from the live
# resource on replace, so a replace does not drop what sipctl does not model.
_COMMON_IGNORED = {
    "name": "the resource's identity: the YAML key",
    "created_at": "set by the server",
    "updated_at": "set by the server",
    "media_encryption": "deprecated alias of media.encryption (read and written with media)",
}
IGNORED: dict[str, dict[str, str]] = {
    "outbound_trunk": {"sip_trunk_id": "the live ID", **_COMMON_IGNORED},
    "inbound_trunk": {
        "sip_trunk_id": "the live ID",
        **_COMMON_IGNORED,
    },
    "dispatch_rule": {
        "sip_dispatch_rule_id": "the live ID",
        **_COMMON_IGNORED,
    },
}
CARRIED: dict[str, tuple[str, ...]] = {
    "outbound_trunk": (),
    "inbound_trunk": (),
    "dispatch_rule": (),
}

# Model fields that are sipctl's own, not LiveKit's (no protobuf field, no canonical form).
CONFIG_ONLY: tuple[str, ...] = ("renamed_from",)

ENUMS: tuple[type[StrEnum], ...] = (Transport, IncludeHeaders, Encryption)


def spec_of(kind: str, path: str) -> FieldSpec | None:
    """The row a (possibly deeper) plan path belongs to: ``headers.X-Foo`` -> headers."""
    for spec in FIELDS[kind]:
        if path == spec.path or (not spec.group and path.startswith(spec.path + ".")):
            return spec
    return None


def top(kind: str, path: str) -> str:
    """The row's path for a plan path (``media.codecs`` -> ``media``)."""
    spec = spec_of(kind, path)
    return spec.path if spec is not None else path.split(".", 1)[0]


_ORDER: dict[str, dict[str, int]] = {
    kind: {spec.path: i for i, spec in enumerate(specs)} for kind, specs in FIELDS.items()
}


def order(kind: str, path: str) -> tuple[int, str]:
    """Sort key of a plan path: its row's place, then the path."""
    return (_ORDER[kind].get(top(kind, path), len(_ORDER[kind])), path)


SECRET_PATHS: dict[str, tuple[str, ...]] = {
    kind: tuple(s.path for s in specs if s.value is Value.SECRET) for kind, specs in FIELDS.items()
}
