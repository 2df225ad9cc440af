"""LiveKit's nested SIP messages as sipctl's models and back: ``SIPMediaConfig`` (and the
deprecated ``media_encryption``), the ``SIPDispatchRule`` oneof, ``RoomConfiguration``,
durations and enums; the per-row mapping of whole resources is :mod:`sipctl.livekit.mapping`.
A value that does not fit raises :class:`Bad` (the mapping names the resource).

Equivalences applied here so that the diff never shows noise: an empty ``media`` is the
same as none; the deprecated ``media_encryption`` is read as ``media.encryption``."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from google.protobuf import json_format
from google.protobuf.duration_pb2 import Duration as PbDuration
from livekit.protocol import room as room_pb
from livekit.protocol import sip as pb

from sipctl.models import (
    AgentDispatch,
    Codec,
    Encryption,
    Media,
    RoomConfig,
    Rule,
    RuleCallee,
    RuleDirect,
    RuleIndividual,
)


class Bad(Exception):
    """A field that does not fit; turned into a LiveKitError naming the resource."""


def enum_member(members: tuple[StrEnum, ...], number: int, path: str) -> Any:
    """The member of protobuf number ``number`` (``members`` in number order)."""
    if not 0 <= number < len(members):
        raise Bad(f"unknown {path} value {number}")
    return members[number]


def enum_number(value: StrEnum) -> int:
    return list(type(value)).index(value)


def _seconds(d: PbDuration) -> float:
    return d.seconds + d.nanos / 1e9


def duration(msg: Any, fld: str) -> float | None:
    if not msg.HasField(fld):
        return None
    value = _seconds(getattr(msg, fld))
    return value if value > 0 else None


def set_duration(target: PbDuration, seconds: float) -> None:
    whole = int(seconds)
    target.seconds = whole
    target.nanos = round((seconds - whole) * 1e9)


_ENCRYPTION = tuple(Encryption)  # in protobuf number order


def media_from_proto(info: Any) -> Media | None:
    """``media`` (or the deprecated ``media_encryption``) as a model; empty is None."""
    has = info.HasField("media")
    m = info.media
    number: int | None = None
    if has and m.HasField("encryption"):
        number = m.encryption
    elif info.media_encryption:
        number = info.media_encryption
    encryption: Encryption | None = None
    if number is not None:
        encryption = enum_member(_ENCRYPTION, number, "media.encryption")
    if encryption is Encryption.disable:
        encryption = None  # the default: same as unset
    codecs = [Codec(name=c.name, rate=c.rate) for c in m.codecs] if has else []
    only = bool(has and m.only_listed_codecs)
    timeout = duration(m, "media_timeout") if has else None
    if not codecs and not only and encryption is None and timeout is None:
        return None
    return Media(
        codecs=codecs, only_listed_codecs=only, encryption=encryption, media_timeout=timeout
    )


def media_to_proto(media: Media | None) -> pb.SIPMediaConfig | None:
    if media is None or media.is_empty():
        return None
    out = pb.SIPMediaConfig(only_listed_codecs=media.only_listed_codecs)
    for c in media.codecs:
        out.codecs.add(name=c.name, rate=c.rate)
    if media.encryption is not None:
        out.encryption = enum_number(media.encryption)  # type: ignore[assignment]
    if media.media_timeout is not None:
        set_duration(out.media_timeout, media.media_timeout)
    return out


def rule_from_proto(r: pb.SIPDispatchRule) -> Rule:
    which = r.WhichOneof("rule")
    if which == "dispatch_rule_direct":
        d = r.dispatch_rule_direct
        return Rule(direct=RuleDirect(room_name=d.room_name, pin=d.pin))
    if which == "dispatch_rule_individual":
        i = r.dispatch_rule_individual
        return Rule(
            individual=RuleIndividual(
                room_prefix=i.room_prefix, pin=i.pin, no_randomness=i.no_randomness
            )
        )
    if which == "dispatch_rule_callee":
        c = r.dispatch_rule_callee
        return Rule(callee=RuleCallee(room_prefix=c.room_prefix, pin=c.pin, randomize=c.randomize))
    raise Bad("its rule is empty or of a kind sipctl does not know (direct, individual, callee)")


def rule_to_proto(rule: Rule) -> pb.SIPDispatchRule:
    if rule.direct is not None:
        d = rule.direct
        return pb.SIPDispatchRule(
            dispatch_rule_direct=pb.SIPDispatchRuleDirect(room_name=d.room_name, pin=d.pin)
        )
    if rule.individual is not None:
        i = rule.individual
        return pb.SIPDispatchRule(
            dispatch_rule_individual=pb.SIPDispatchRuleIndividual(
                room_prefix=i.room_prefix, pin=i.pin, no_randomness=i.no_randomness
            )
        )
    assert rule.callee is not None
    c = rule.callee
    return pb.SIPDispatchRule(
        dispatch_rule_callee=pb.SIPDispatchRuleCallee(
            room_prefix=c.room_prefix, pin=c.pin, randomize=c.randomize
        )
    )


_MS = ("min_playout_delay", "max_playout_delay")  # milliseconds in RoomConfiguration
_S = ("empty_timeout", "departure_timeout")  # seconds


def room_config_from_proto(info: Any) -> RoomConfig | None:
    """``room_config`` as a model (``egress`` left out: carried over on replace)."""
    data = json_format.MessageToDict(info.room_config, preserving_proto_field_name=True)
    data.pop("egress", None)
    for key in _MS:
        if key in data:
            data[key] = int(data[key]) / 1000
    for key in _S:
        if key in data:
            data[key] = float(data[key])
    data["agents"] = [
        AgentDispatch.model_construct(
            agent_name=a.get("agent_name", ""),
            metadata=a.get("metadata", ""),
            deployment=a.get("deployment", ""),
            attributes=dict(a.get("attributes", {})),
        )
        for a in data.get("agents", [])
    ]
    for name, fld in RoomConfig.model_fields.items():
        if name not in data:
            data[name] = fld.get_default(call_default_factory=True)
    config = RoomConfig.model_construct(**data)
    return None if config == RoomConfig() else config


def room_config_to_proto(config: RoomConfig) -> room_pb.RoomConfiguration:
    out = room_pb.RoomConfiguration(
        name=config.name,
        max_participants=config.max_participants,
        metadata=config.metadata,
        sync_streams=config.sync_streams,
        tags=config.tags,
    )
    for key in _S:
        value = getattr(config, key)
        if value is not None:
            setattr(out, key, round(value))
    for key in _MS:
        value = getattr(config, key)
        if value is not None:
            setattr(out, key, round(value * 1000))
    for a in config.agents:
        out.agents.add(
            agent_name=a.agent_name, metadata=a.metadata, deployment=a.deployment
        ).attributes.update(a.attributes)
    return out
