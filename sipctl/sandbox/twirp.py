"""Twirp v8 wire format as livekit-server speaks it: routing, body codecs, error bodies.

Facts from twitchtv/twirp v8.1.3 generated servers (livekit/protocol ``*.twirp.go``):
paths are ``<prefix>/<package>.<Service>/<Method>``; only POST; Content-Type must be
``application/json`` or ``application/protobuf`` (parameters ignored); JSON bodies are
decoded with protojson (unknown fields discarded) and answered with proto field names and
every field emitted; errors are always JSON ``{"code","msg","meta"}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from sipctl.sandbox.auth import Grants
from sipctl.sandbox.errors import PSRPC_PREFIX, TwirpError

JSON = "application/json"
PROTOBUF = "application/protobuf"

# Go's json.Marshal escapes these inside strings (HTML safety); Python's json does not.
_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def psrpc_error(code: str, msg: str, meta: dict[str, str] | None = None) -> TwirpError:
    """An error that reached livekit-server over psrpc: its msg carries the Twirp prefix."""
    return TwirpError(code, PSRPC_PREFIX + msg, meta)


def plain_error(msg: str) -> TwirpError:
    """A plain Go error returned by a handler: livekit's interceptor makes it ``unknown``."""
    return TwirpError("unknown", msg)


def bad_route(msg: str, method: str, path: str) -> TwirpError:
    return TwirpError("bad_route", msg, {"twirp_invalid_route": f"{method} {path}"})


def error_body(err: TwirpError) -> bytes:
    """Serialise like twirp's marshalErrorToJSON (Go encoding/json, meta keys sorted)."""
    body: dict[str, object] = {"code": err.code, "msg": err.msg}
    if err.meta:
        body["meta"] = dict(sorted(err.meta.items()))
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return text.translate(_GO_ESCAPES).encode()


def parse_path(path: str) -> tuple[str, str, str]:
    """Split like twirp's parseTwirpPath: (prefix, package.Service, Method)."""
    parts = path.split("/")
    if len(parts) < 2:
        return "", "", ""
    return "/".join(parts[:-2]), parts[-2], parts[-1]


def content_kind(header: str) -> str | None:
    """``json``/``protobuf`` for an accepted Content-Type, else None."""
    media = header.split(";", 1)[0].strip().lower()
    if media == JSON:
        return "json"
    if media == PROTOBUF:
        return "protobuf"
    return None


def decode_request(kind: str, body: bytes, message: Message) -> None:
    """Fill ``message`` from a request body or raise Twirp ``malformed``."""
    if kind == "protobuf":
        try:
            message.ParseFromString(body)
        except Exception:  # DecodeError, or upb's RuntimeError on bad UTF-8
            raise TwirpError("malformed", "the protobuf request could not be decoded") from None
        return
    try:
        # Go's json.Decoder reads exactly one JSON value and ignores what follows it.
        text = body.decode()
        decoder = json.JSONDecoder(object_pairs_hook=_no_duplicate_keys)
        value, _ = decoder.raw_decode(text, len(text) - len(text.lstrip()))
        if not isinstance(value, dict):
            raise ValueError("request must be a JSON object")
        _drop_numeric_enum_strings(value, message.DESCRIPTOR)
        # protojson.UnmarshalOptions{DiscardUnknown: true} (livekit's Twirp servers):
        # unknown fields and unknown enum names are dropped; the same field twice (even
        # as jsonName and proto name) is an error, as in Python's parser
        json_format.ParseDict(value, message, ignore_unknown_fields=True)
    except Exception:
        raise TwirpError("malformed", "the json request could not be decoded") from None


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, val in pairs:
        if key in out:
            raise ValueError(f"duplicate field {key!r}")  # protojson: duplicate field
        out[key] = val
    return out


def _drop_numeric_enum_strings(value: dict[str, Any], desc: Any) -> None:
    """protojson reads an enum from its name or a JSON number; a string that is not a
    name (e.g. "1") is an unknown value, which DiscardUnknown drops. Python's parser
    would take "1" as the number, so such values are removed first. A field given under
    both of its names is refused (protojson: duplicate field)."""
    seen: set[int] = set()
    for key in list(value):
        field = desc.fields_by_camelcase_name.get(key) or desc.fields_by_name.get(key)
        if field is None:
            continue
        if field.number in seen:  # e.g. authUsername and auth_username: protojson refuses
            raise ValueError(f"duplicate field {field.name!r}")
        seen.add(field.number)
        item = value[key]
        if field.enum_type is not None:
            names = field.enum_type.values_by_name
            if isinstance(item, str) and item not in names:
                del value[key]
            elif isinstance(item, list):
                value[key] = [v for v in item if not (isinstance(v, str) and v not in names)]
        elif field.message_type is not None and not field.message_type.GetOptions().map_entry:
            items = item if isinstance(item, list) else [item]
            for sub in items:
                if isinstance(sub, dict):
                    _drop_numeric_enum_strings(sub, field.message_type)


@dataclass(frozen=True)
class _Shape:
    """Per message type: what Go's protojson EmitUnpopulated adds beyond Python's output."""

    nulls: tuple[str, ...]  # keys of singular message fields (null when unset)
    nested: tuple[tuple[str, FieldDescriptor], ...]  # message fields to descend into


_WKT = frozenset(
    {
        "google.protobuf.Duration",
        "google.protobuf.Timestamp",
        "google.protobuf.Struct",
        "google.protobuf.Value",
        "google.protobuf.ListValue",
        "google.protobuf.Any",
        "google.protobuf.FieldMask",
        "google.protobuf.Empty",
    }
)


@cache
def _shape(desc: Descriptor) -> _Shape:
    nulls: list[str] = []
    nested: list[tuple[str, FieldDescriptor]] = []
    for f in desc.fields:
        if f.message_type is None:
            continue
        is_map = f.message_type.GetOptions().map_entry
        if f.is_repeated and is_map:
            value = f.message_type.fields_by_name["value"]
            if value.message_type is not None and value.message_type.full_name not in _WKT:
                nested.append((f.name, f))
            continue
        if not f.is_repeated and f.containing_oneof is None:
            nulls.append(f.name)
        if f.message_type.full_name not in _WKT:
            nested.append((f.name, f))
    return _Shape(tuple(nulls), tuple(nested))


def _fill(msg: Message, out: dict[str, Any]) -> None:
    shape = _shape(msg.DESCRIPTOR)
    for key in shape.nulls:
        if key not in out:
            out[key] = None
    for key, field in shape.nested:
        value = out.get(key)
        if value is None:
            continue
        attr = getattr(msg, field.name)
        assert field.message_type is not None  # _shape only lists message fields
        if field.message_type.GetOptions().map_entry:
            for k, sub in attr.items():
                _fill(sub, value[str(k)])
        elif field.is_repeated:
            for sub, sub_out in zip(attr, value, strict=True):
                _fill(sub, sub_out)
        else:
            _fill(attr, value)


def to_json_obj(msg: Message) -> dict[str, Any]:
    """protojson with UseProtoNames + EmitUnpopulated (unset messages as null)."""
    out: dict[str, Any] = json_format.MessageToDict(
        msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    _fill(msg, out)
    return out


def encode_response(kind: str, msg: Message) -> bytes:
    if kind == "protobuf":
        return msg.SerializeToString()
    return json.dumps(to_json_obj(msg), separators=(",", ":"), ensure_ascii=False).encode()


def content_type(kind: str) -> str:
    return PROTOBUF if kind == "protobuf" else JSON


@dataclass(frozen=True)
class Call:
    """What a handler knows about its request besides the decoded message."""

    method: str
    grants: Grants | None
    timeout_s: float | None = None  # from X-Twirp-Timeout-Ms
