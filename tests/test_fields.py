"""The field tables (sipctl/fields.py) agree with the models and with the SDK's protobufs."""

from __future__ import annotations

import inspect

import pytest
from livekit.api.sip_service import SipService
from livekit.protocol import sip as pb

from sipctl.fields import CARRIED, CONFIG_ONLY, FIELDS, IGNORED, KINDS, MODEL_OF, Value
from sipctl.livekit.mapping import INFO
from sipctl.models import Encryption

UPDATE = {
    "outbound_trunk": SipService.update_outbound_trunk_fields,
    "inbound_trunk": SipService.update_inbound_trunk_fields,
    "dispatch_rule": SipService.update_dispatch_rule_fields,
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_protobuf_field_is_covered_or_ignored_with_a_reason(kind: str) -> None:
    covered = {s.proto for s in FIELDS[kind]}
    ignored = IGNORED[kind]
    assert all(reason.strip() for reason in ignored.values())
    assert not covered & set(ignored), "a field is both covered and ignored"
    missing = [f.name for f in INFO[kind].DESCRIPTOR.fields if f.name not in covered | set(ignored)]
    assert missing == [], f"{kind}: model these fields or list them in IGNORED with a reason"
    for name in [*covered, *ignored, *CARRIED[kind]]:
        assert name in INFO[kind].DESCRIPTOR.fields_by_name, f"{kind}: no protobuf field {name}"


@pytest.mark.parametrize("kind", KINDS)
def test_every_model_field_has_a_row(kind: str) -> None:
    rows = {s.group or s.path for s in FIELDS[kind]}
    assert rows == set(MODEL_OF[kind].model_fields) - set(CONFIG_ONLY)


@pytest.mark.parametrize("kind", KINDS)
def test_update_keywords_exist_in_the_sdk(kind: str) -> None:
    params = set(inspect.signature(UPDATE[kind]).parameters)
    for spec in FIELDS[kind]:
        if spec.update is not None:
            assert spec.update in params, f"{kind}.{spec.path}: no keyword {spec.update}"


PROTO_NAME = {
    "auto": "SIP_TRANSPORT_AUTO",
    "udp": "SIP_TRANSPORT_UDP",
    "tcp": "SIP_TRANSPORT_TCP",
    "tls": "SIP_TRANSPORT_TLS",
    "none": "SIP_NO_HEADERS",
    "x_headers": "SIP_X_HEADERS",
    "all": "SIP_ALL_HEADERS",
    "disable": "SIP_MEDIA_ENCRYPT_DISABLE",
    "allow": "SIP_MEDIA_ENCRYPT_ALLOW",
    "require": "SIP_MEDIA_ENCRYPT_REQUIRE",
}


def test_enum_members_follow_the_protobuf_numbers() -> None:
    # mapping.py converts an enum by its member's position: the order must be the numbers'
    pairs = [(s.enum, s.proto, k) for k in KINDS for s in FIELDS[k] if s.value is Value.ENUM]
    pairs.append((Encryption, "media_encryption", "outbound_trunk"))
    for enum, proto, kind in pairs:
        assert enum is not None
        pb_enum = INFO[kind].DESCRIPTOR.fields_by_name[proto].enum_type
        names = [v.name for v in sorted(pb_enum.values, key=lambda v: v.number)]
        assert [PROTO_NAME[m.value] for m in enum] == names


def test_media_row_matches_the_media_config() -> None:
    assert [f.name for f in pb.SIPMediaConfig.DESCRIPTOR.fields] == [
        "only_listed_codecs",
        "codecs",
        "encryption",
        "media_timeout",
    ]
