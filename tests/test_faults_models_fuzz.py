"""Fuzzing the models directly (hypothesis), beside the loader fuzzing of test_config_fuzz.

- the config models take any data and either validate or raise pydantic's
  ``ValidationError`` (which the loader turns into located problems): never another
  exception; what validates can be dumped to JSON;
- the live mapping takes any protobuf LiveKit could send (unknown enum values, odd
  metadata, empty names) and never raises: an unreadable resource carries an ``error``
  naming it (``sipctl plan`` refuses it, ``sipctl import`` skips it).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from livekit.protocol import sip as pb
from pydantic import BaseModel, ValidationError

from sipctl.livekit.mapping import from_proto
from sipctl.models import (
    DispatchRule,
    InboundTrunk,
    Media,
    OutboundTrunk,
    Rule,
    Settings,
    TestCall,
)

MODELS: list[type[BaseModel]] = [
    OutboundTrunk,
    InboundTrunk,
    DispatchRule,
    TestCall,
    Settings,
    Media,
    Rule,
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        ["+15550100001", "15550100001", "udp", "tls", "PCMU/8000", "20s", "1m30s", "-1s",
         "* * * * *", "every 30s", "sip:x@y", "10.0.0.0/8", "x_headers", "US", "require",
         "answered", "w1#", "{}", "[]", '{"sipctl": 1}']
    ),
)  # fmt: skip


def _fields(model: type[BaseModel]) -> list[str]:
    names: set[str] = set()
    for m in MODELS:
        names |= set(m.model_fields)
        names |= {f.alias for f in m.model_fields.values() if f.alias}
    return sorted(names | set(model.model_fields))


def trees(model: type[BaseModel]) -> st.SearchStrategy[Any]:
    keys = st.one_of(st.sampled_from(_fields(model)), st.text(max_size=6))
    value: st.SearchStrategy[Any] = st.recursive(
        scalars,
        lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(keys, kids, max_size=4)),
        max_leaves=12,
    )
    return st.dictionaries(keys, value, max_size=6)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_models_validate_or_raise_validation_errors(model: type[BaseModel]) -> None:
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(trees(model))
    def check(data: dict[str, Any]) -> None:
        try:
            obj = model.model_validate(data)
        except ValidationError as exc:
            assert exc.errors()  # every problem has a location and a message
            return
        obj.model_dump(mode="json")

    check()


texts = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["acme", "sip.example.com", "+15550100001", "10.0.0.1", "X-Id", "ST_1"]),
)
enums = st.one_of(st.integers(0, 3), st.integers(min_value=0, max_value=2**31 - 1))
metadata = st.one_of(
    texts,
    st.sampled_from(['{"sipctl":{"v":1}}', '{"sipctl":{"v":9,"fp":3}}', '{"sipctl":[]}', "[1]"]),
)
codecs = st.lists(st.tuples(texts, st.integers(0, 2**32 - 1)), max_size=2)


@st.composite
def outbound(draw: st.DrawFn) -> pb.SIPOutboundTrunkInfo:
    return pb.SIPOutboundTrunkInfo(
        sip_trunk_id=draw(texts),
        name=draw(texts),
        metadata=draw(metadata),
        address=draw(texts),
        transport=draw(enums),
        numbers=draw(st.lists(texts, max_size=3)),
        auth_username=draw(texts),
        auth_password=draw(texts),
        headers=draw(st.dictionaries(texts, texts, max_size=2)),
        include_headers=draw(enums),
        destination_country=draw(texts),
        from_host=draw(texts),
        media_encryption=draw(enums),
    )


@st.composite
def inbound(draw: st.DrawFn) -> pb.SIPInboundTrunkInfo:
    info = pb.SIPInboundTrunkInfo(
        sip_trunk_id=draw(texts),
        name=draw(texts),
        metadata=draw(metadata),
        numbers=draw(st.lists(texts, max_size=3)),
        allowed_addresses=draw(st.lists(texts, max_size=2)),
        allowed_numbers=draw(st.lists(texts, max_size=2)),
        auth_username=draw(texts),
        auth_password=draw(texts),
        auth_realm=draw(texts),
        include_headers=draw(enums),
        media_encryption=draw(enums),
        krisp_enabled=draw(st.booleans()),
    )
    info.ringing_timeout.seconds = draw(st.integers(-(2**40), 2**40))
    info.max_call_duration.nanos = draw(st.integers(-999_999_999, 999_999_999))
    return info


@st.composite
def rules(draw: st.DrawFn) -> pb.SIPDispatchRuleInfo:
    info = pb.SIPDispatchRuleInfo(
        sip_dispatch_rule_id=draw(texts),
        name=draw(texts),
        metadata=draw(metadata),
        trunk_ids=draw(st.lists(texts, max_size=2)),
        hide_phone_number=draw(st.booleans()),
        inbound_numbers=draw(st.lists(texts, max_size=2)),
        numbers=draw(st.lists(texts, max_size=2)),
        attributes=draw(st.dictionaries(texts, texts, max_size=2)),
        room_preset=draw(texts),
        media_encryption=draw(enums),
    )
    which = draw(st.sampled_from(["none", "direct", "individual", "callee"]))
    if which == "direct":
        info.rule.dispatch_rule_direct.room_name = draw(texts)
        info.rule.dispatch_rule_direct.pin = draw(texts)
    elif which == "individual":
        info.rule.dispatch_rule_individual.room_prefix = draw(texts)
    elif which == "callee":
        info.rule.dispatch_rule_callee.room_prefix = draw(texts)
        info.rule.dispatch_rule_callee.randomize = draw(st.booleans())
    return info


@settings(max_examples=200, deadline=None)
@given(outbound(), inbound(), rules(), codecs)
def test_live_mapping_never_raises(
    out: pb.SIPOutboundTrunkInfo,
    inb: pb.SIPInboundTrunkInfo,
    rule: pb.SIPDispatchRuleInfo,
    media_codecs: list[tuple[str, int]],
) -> None:
    for name, rate in media_codecs:
        out.media.codecs.add(name=name, rate=rate)
    if media_codecs:
        out.media.encryption = len(media_codecs) * 7  # 7, 14: unknown values
        inb.media.media_timeout.seconds = -len(media_codecs)
    results = [
        from_proto("outbound_trunk", out),
        from_proto("inbound_trunk", inb),
        from_proto("dispatch_rule", rule, {inb.sip_trunk_id: inb.name}),
    ]
    for res in results:
        event(f"{res.kind} {'readable' if res.model is not None else 'unreadable'}")
        # either a model sipctl can compare, or an error that names the resource
        assert (res.model is None) == (res.error is not None), res
        if res.error is not None:
            assert res.kind.replace("_", " ") in res.error, res.error
        else:
            assert res.id  # a resource without an ID is never taken as readable
