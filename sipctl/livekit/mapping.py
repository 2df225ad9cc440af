"""The one mapping between LiveKit's protobufs and sipctl's models, both ways, driven by
the field tables (:mod:`sipctl.fields`).

``from_proto`` turns a live ``SIP*Info`` into the model the config would produce for it
(plus its ID, name, ownership marker and the password as the server returned it);
``to_proto`` builds the ``SIP*Info`` to create or replace from a model; ``update_args``
the keywords of the SDK's ``update_*_fields`` for the rows a change touches. An answer
that does not fit (unknown enum value, missing ID, empty rule) is a :class:`LiveKitError`
naming the resource. Nested messages (media, the rule, the room configuration) are
converted by :mod:`sipctl.livekit.messages`.
"""

from __future__ import annotations

import functools
import operator
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from livekit.protocol import sip as pb
from pydantic import BaseModel

from sipctl.canonical import value_at
from sipctl.errors import LiveKitError
from sipctl.fields import CARRIED, FIELDS, ID_FIELD, MODEL_OF, FieldSpec, Kind, Value, describe
from sipctl.live import LiveResource
from sipctl.livekit.messages import (
    Bad,
    duration,
    enum_member,
    enum_number,
    media_from_proto,
    media_to_proto,
    room_config_from_proto,
    room_config_to_proto,
    rule_from_proto,
    rule_to_proto,
    set_duration,
)
from sipctl.models import Resource
from sipctl.ownership import Marker, parse_metadata, render_metadata
from sipctl.secrets import Secret

INFO: dict[str, type[Any]] = {
    "outbound_trunk": pb.SIPOutboundTrunkInfo,
    "inbound_trunk": pb.SIPInboundTrunkInfo,
    "dispatch_rule": pb.SIPDispatchRuleInfo,
}


@dataclass
class Context:
    """What writing a row may need besides the model: dispatch rules name trunks by name."""

    trunk_ids: Callable[[str], str] = str  # inbound trunk name -> ID
    metadata: str = ""  # the metadata to write (the user's plus the marker)


def _write(spec: FieldSpec, out: Any, v: Any, ctx: Context) -> None:
    """Set one row of the protobuf from the model value."""
    kind = spec.value
    if kind is Value.METADATA:
        out.metadata = ctx.metadata
    elif kind is Value.MEDIA:
        media = media_to_proto(v)
        if media is not None:
            out.media.CopyFrom(media)
            out.media_encryption = media.encryption  # the deprecated twin, for old servers
    elif v is None:
        return  # unset: the protobuf's default
    elif kind is Value.DURATION:
        set_duration(getattr(out, spec.proto), v)
    elif kind is Value.ROOM_CONFIG:
        getattr(out, spec.proto).CopyFrom(room_config_to_proto(v))
    elif kind is Value.RULE:
        getattr(out, spec.proto).CopyFrom(rule_to_proto(v))
    elif kind is Value.TRUNKS:
        getattr(out, spec.proto).extend(ctx.trunk_ids(name) for name in v)
    elif kind is Value.LIST:
        getattr(out, spec.proto).extend(v)
    elif kind is Value.MAP:
        getattr(out, spec.proto).update(v)
    else:
        setattr(out, spec.proto, _wire(spec, v))


def _wire(spec: FieldSpec, v: Any) -> Any:
    """A scalar's protobuf value (also the update keyword's)."""
    if spec.value is Value.ENUM:
        return enum_number(v)
    if spec.value is Value.SECRET:
        return v.reveal() if v else ""
    return v


# --- resources -------------------------------------------------------------------------


def _model_of(annotation: Any) -> type[BaseModel]:
    for arg in (annotation, *typing.get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    raise TypeError(f"no model in {annotation!r}")


# A row's value from the protobuf; ``names`` maps inbound trunk IDs to names (rules).
Reader = Callable[[Any, Mapping[str, str]], Any]


@dataclass(frozen=True)
class _Layout:
    """How from_proto builds one kind's model, worked out once per kind: 10,000 trunks
    read 130,000 values, so plain rows are a bare ``attrgetter``, enums index a tuple, and
    nothing that does not depend on the resource is decided per resource."""

    cls: type[BaseModel]
    top: tuple[tuple[str, Reader], ...]  # top-level fields
    metadata: str | None  # the field that receives the user's metadata (as parsed)
    groups: tuple[tuple[str, type[BaseModel], tuple[tuple[str, Reader], ...]], ...]  # auth
    read: frozenset[str]  # every field the rows fill (the model's fields set)
    defaults: tuple[tuple[str, Callable[[], Any]], ...]  # fields no row fills


@functools.cache
def _layout(kind: Kind) -> _Layout:
    cls = MODEL_OF[kind]
    top: list[tuple[str, Reader]] = []
    metadata = None
    grouped: dict[str, list[tuple[str, Reader]]] = {}
    for spec in FIELDS[kind]:
        if spec.group:
            grouped.setdefault(spec.group, []).append((spec.leaf, _reader(spec)))
        elif spec.value is Value.METADATA:
            metadata = spec.path
        else:
            top.append((spec.path, _reader(spec)))
    groups = tuple((g, _nested_model(cls, g), tuple(rows)) for g, rows in grouped.items())
    read = frozenset({*(k for k, _ in top), *grouped, *([metadata] if metadata else [])})
    return _Layout(cls, tuple(top), metadata, groups, read, _unread_defaults(cls, read))


def _reader(spec: FieldSpec) -> Reader:
    """How one row's model value is read from the protobuf."""
    get = operator.attrgetter(spec.proto)
    kind, proto = spec.value, spec.proto
    if kind in (Value.STR, Value.BOOL):
        return lambda info, names: get(info)
    if kind is Value.INT:
        return lambda info, names: get(info) or None  # 0 is unset
    if kind is Value.LIST:
        return lambda info, names: list(get(info))
    if kind is Value.MAP:
        # dict() of a protobuf map goes through Python's Mapping mixins; most are empty
        return lambda info, names: dict(raw) if (raw := get(info)) else {}
    if kind is Value.SECRET:
        return lambda info, names: Secret(raw) if (raw := get(info)) else None
    if kind is Value.MEDIA:
        return lambda info, names: media_from_proto(info)
    if kind is Value.DURATION:
        return lambda info, names: duration(info, proto)
    if kind is Value.ROOM_CONFIG:
        return lambda info, names: room_config_from_proto(info) if info.HasField(proto) else None
    if kind is Value.TRUNKS:
        return lambda info, names: [names.get(t, t) for t in get(info)]
    if kind is Value.RULE:

        def rule(info: Any, names: Mapping[str, str]) -> Any:
            if not info.HasField(proto):
                raise Bad("it has no rule")
            return rule_from_proto(get(info))

        return rule
    assert kind is Value.ENUM and spec.enum is not None
    members = tuple(spec.enum)  # in protobuf number order (tests/test_fields.py)
    return lambda info, names: enum_member(members, get(info), spec.path)


def _unread_defaults(
    cls: type[BaseModel], read: frozenset[str]
) -> tuple[tuple[str, Callable[[], Any]], ...]:
    """The model's fields no protobuf row fills (``renamed_from``), with a maker of their
    default (a fresh list each time). A factory that takes the validated data is refused:
    no model here has one, and :func:`_construct` could not honour it."""
    out: list[tuple[str, Callable[[], Any]]] = []
    for name, info in cls.model_fields.items():
        if name in read:
            continue
        factory = info.default_factory
        if factory is None:
            if not info.is_required():
                out.append((name, _constant(info.default)))
        else:
            assert not info.default_factory_takes_validated_data, name
            out.append((name, factory))  # type: ignore[arg-type]
    return tuple(out)


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


def _construct(
    cls: type[BaseModel], data: dict[str, Any], fields_set: set[str] | None = None
) -> Any:
    """What ``cls.model_construct(fields_set, **data)`` gives when ``data`` names every
    field (``fields_set`` defaults to all of them), without its per-call work (defaults,
    private attributes, extra), at a fifth of its cost: 20,000 of them per 10,000
    trunks. No model here has private attributes or extra fields;
    ``tests/test_mapping_scale.py`` checks that the result equals model_construct's."""
    model = cls.__new__(cls)
    _set(model, "__dict__", data)
    _set(model, "__pydantic_fields_set__", set(data) if fields_set is None else fields_set)
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model


_set = object.__setattr__


@functools.cache
def _nested_model(cls: type[BaseModel], group: str) -> type[BaseModel]:
    return _model_of(cls.model_fields[group].annotation)


def from_proto(kind: Kind, info: Any, trunk_names: Mapping[str, str] | None = None) -> LiveResource:
    """A listed or returned ``SIP*Info`` as a :class:`LiveResource` (``error`` set when it
    does not fit). ``trunk_names`` maps inbound trunk IDs to names (an unknown ID stays)."""
    rid, name = getattr(info, ID_FIELD[kind]), info.name
    parsed = parse_metadata(info.metadata)
    password = getattr(info, "auth_password", "")
    res = LiveResource(kind, rid, name, None, parsed.marker, password, info=info)
    res.legacy_marker = kind == "dispatch_rule" and parsed.marker is not None
    names = trunk_names or _NO_NAMES
    try:
        if not rid:
            raise Bad(f"it has no {ID_FIELD[kind]}")
        lay = _layout(kind)
        data = {key: read(info, names) for key, read in lay.top}
        if lay.metadata:
            data[lay.metadata] = parsed.user
        for group, sub, rows in lay.groups:
            values = {leaf: read(info, names) for leaf, read in rows}
            # a nested model (auth) exists when any of its fields is set
            data[group] = _construct(sub, values) if any(values.values()) else None
        # Without the config's validation: a live value the config would reject is kept
        # as it is (and shows in the diff). ``data`` names every field.
        for field_name, make in lay.defaults:
            data[field_name] = make()
        res.model = _construct(lay.cls, data, set(lay.read))
    except (Bad, ValueError, TypeError) as exc:
        res.error = str(
            LiveKitError(
                f"LiveKit returned {describe(kind, name, rid)} that sipctl cannot read: {exc}"
            )
        )
    return res


_NO_NAMES: Mapping[str, str] = {}


def to_proto(
    kind: Kind,
    name: str,
    model: Resource,
    metadata: str,
    trunk_ids: Callable[[str], str] = str,
    rid: str = "",
) -> Any:
    """The full ``SIP*Info`` of a model (for create and replace)."""
    out = INFO[kind](name=name)
    setattr(out, ID_FIELD[kind], rid)
    ctx = Context(trunk_ids=trunk_ids, metadata=metadata)
    for spec in FIELDS[kind]:
        _write(spec, out, value_at(model, spec), ctx)
    return out


def update_args(
    kind: Kind,
    model: Resource,
    rows: set[str],
    *,
    metadata: str,
    old: Resource | None,
    trunk_ids: Callable[[str], str] = str,
) -> dict[str, Any]:
    """The keywords of the SDK's ``update_*_fields`` that send ``rows`` (and the metadata).

    Every row in ``rows`` must have an ``update`` keyword in the table."""
    kw: dict[str, Any] = {"metadata": metadata}
    for spec in FIELDS[kind]:
        if spec.path not in rows or spec.value is Value.METADATA:
            continue
        assert spec.update is not None, f"{spec.path} cannot be updated"
        v = value_at(model, spec)
        if spec.value is Value.MEDIA:
            # the whole config: an empty one clears it
            media = media_to_proto(v) or pb.SIPMediaConfig()
            if not media.HasField("encryption"):
                # LiveKit's update keeps the deprecated media_encryption, and Upgrade()
                # copies it into an unset media.encryption: encryption would stay on
                # (livekit/protocol livekit/sip.go updateMediaConfig, UpgradeWith)
                media.encryption = pb.SIP_MEDIA_ENCRYPT_DISABLE
            kw[spec.update] = media
        elif spec.value is Value.RULE:
            kw[spec.update] = rule_to_proto(v)
        elif spec.value is Value.TRUNKS:
            kw[spec.update] = [trunk_ids(n) for n in v]
        elif spec.value is Value.LIST:
            kw[spec.update] = list(v)
        elif spec.value is Value.MAP:
            # update merges maps: a removed key is sent with an empty value
            before = value_at(old, spec) if old is not None else None
            kw[spec.update] = {**{k: "" for k in before or {}}, **v}
        elif spec.value is Value.SECRET:
            kw[spec.update] = _wire(spec, v)
        else:
            kw[spec.update] = _wire(spec, v) if v is not None else ""
    return kw


def metadata_for(model: Resource, marker: Marker | None, live: LiveResource | None = None) -> str:
    """The metadata string to write: the user's keys plus sipctl's marker (none for a
    dispatch rule). Live text that already means what the YAML declares is kept byte for
    byte (LiveKit hands a rule's metadata to every caller as it is)."""
    same = live is not None and live.model is not None and live.model.metadata == model.metadata
    if same and marker is None and live is not None and not live.legacy_marker:
        return str(live.info.metadata) if live.info is not None else ""
    return render_metadata(model.metadata, marker)


def carry_unmodelled(kind: str, target: Any, live: Any) -> None:
    """Copy fields sipctl does not model from the live protobuf (so replace keeps them)."""
    if live is None:
        return
    egress = kind == "dispatch_rule" and live.HasField("room_config")
    if egress and live.room_config.HasField("egress"):
        # egress is not modelled: the live one stays
        target.room_config.egress.CopyFrom(live.room_config.egress)
    for fld in CARRIED[kind]:
        if _is_message(live, fld):
            if live.HasField(fld):
                getattr(target, fld).CopyFrom(getattr(live, fld))
        else:
            setattr(target, fld, getattr(live, fld))


def _is_message(msg: Any, fld: str) -> bool:
    return bool(msg.DESCRIPTOR.fields_by_name[fld].message_type is not None)
