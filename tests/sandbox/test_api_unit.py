"""Fast tests of the sandbox API's pure parts: validation, ListUpdate, conflicts, JWT,
the Twirp codec, fault parsing, the store and CreateSIPParticipant's pre-dial checks."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest
from livekit.protocol import models, sip

from sipctl.sandbox import validation as v
from sipctl.sandbox.auth import AuthFailure, Grants, Verifier
from sipctl.sandbox.errors import TwirpError
from sipctl.sandbox.faults import FaultConfigError, parse_config, parse_error_rate, spoil
from sipctl.sandbox.sip_service import SipService
from sipctl.sandbox.store import SipStore
from sipctl.sandbox.twirp import decode_request, error_body, to_json_obj

SECRET = "unit-test-secret-0123456789abcdef0123456789abcdef0123456789"


def outbound(**kw: object) -> sip.SIPOutboundTrunkInfo:
    base: dict[str, object] = {"address": "sip.example.com", "numbers": ["+15550100"]}
    base.update(kw)
    return sip.SIPOutboundTrunkInfo(**base)  # type: ignore[arg-type]


# --- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trunk", "message"),
    [
        (outbound(numbers=[]), "no trunk numbers specified"),
        (outbound(address=""), "no outbound address specified"),
        (
            outbound(address="h;transport=tcp"),
            "trunk address should not contain transport parameter",
        ),
        (
            outbound(address="sip:h.example.com"),
            "trunk address should be a hostname or IP, not SIP URI",
        ),
        (outbound(address="sips:h"), "trunk address should be a hostname or IP, not SIP URI"),
        (outbound(address="u@h"), "trunk address should be a hostname or IP, not SIP URI"),
        (outbound(address="h;lr"), "trunk address should be a hostname or IP, not SIP URI"),
        (outbound(from_host="sip:x"), "trunk from_host should be a hostname or IP, not SIP URI"),
        (outbound(headers={"From": "x"}), "invalid header name: header name From not supported"),
        (outbound(headers={"l": "x"}), "invalid header name: header name l not supported"),
        (
            outbound(headers={"X A": "x"}),
            "invalid header name: header name X A contains invalid characters: char 32 not allowed",
        ),
        (
            outbound(headers={"X-A": "a\nb"}),
            "invalid header value for X-A: header X-A: value: char 10 not allowed",
        ),
        (
            outbound(headers={"X-A": "v" * 1025}),
            "invalid header value for X-A: header X-A: value too long (max 1024 characters)",
        ),
        (
            outbound(headers={"X" * 256: "v"}),
            "invalid header name: header name too long (max 255 characters)",
        ),
        (
            outbound(headers_to_attributes={"": "a"}),
            "invalid header name: header name cannot be empty",
        ),
    ],
)
def test_outbound_trunk_validation_messages(trunk: sip.SIPOutboundTrunkInfo, message: str) -> None:
    with pytest.raises(v.Invalid) as err:
        v.validate_outbound_trunk(trunk)
    assert str(err.value) == message


def test_outbound_trunk_valid_cases() -> None:
    # Forbidden names only apply to `headers`; attribute maps only need token names.
    v.validate_outbound_trunk(
        outbound(
            address="10.0.0.1:5060",
            headers={"X-Custom": "välue ok", "To": "warned, not refused"},
            attributes_to_headers={"attr": "From"},
        )
    )


def test_inbound_trunk_needs_a_security_field() -> None:
    with pytest.raises(v.Invalid, match=r"^for security, one of the fields must be set"):
        v.validate_inbound_trunk(sip.SIPInboundTrunkInfo(name="x"))
    v.validate_inbound_trunk(sip.SIPInboundTrunkInfo(auth_password="p"))
    v.validate_inbound_trunk(sip.SIPInboundTrunkInfo(allowed_addresses=["1.2.3.4/32"]))


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("+1 (555) 010-0000", "+15550100000"), ("15550100", "+15550100"), ("abc", "abc"), ("", "")],
)
def test_normalize_number(raw: str, normal: str) -> None:
    assert v.normalize_number(raw) == normal


# --- ListUpdate ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("update", "message"),
    [
        (models.ListUpdate(), "unsupported list update operation"),
        (
            models.ListUpdate(clear=True, add=["a"]),
            "cannot clear and change the list at the same time",
        ),
        (
            models.ListUpdate(set=["a"], remove=["b"]),
            "cannot set and change the list at the same time",
        ),
        (models.ListUpdate(add=[""]), "empty element in the list"),
    ],
)
def test_list_update_rules(update: models.ListUpdate, message: str) -> None:
    with pytest.raises(v.Invalid) as err:
        v.validate_list_update(update)
    assert str(err.value) == message


def test_list_update_apply() -> None:
    cur = ["a", "b", "a", "c"]
    assert v.apply_list_update(cur, models.ListUpdate(set=["x"])) == ["x"]
    assert v.apply_list_update(cur, models.ListUpdate(clear=True)) == []
    # remove drops the first occurrence of each value, then add appends missing values.
    assert v.apply_list_update(cur, models.ListUpdate(remove=["a"], add=["c", "d"])) == [
        "b",
        "a",
        "c",
        "d",
    ]


def test_update_applies_upgrade_and_post_checks() -> None:
    info = outbound(sip_trunk_id="ST_x", media_encryption=sip.SIP_MEDIA_ENCRYPT_REQUIRE)
    out = v.apply_outbound_update(info, sip.SIPOutboundTrunkUpdate(name="n"))
    assert out.name == "n" and out.HasField("media")
    assert out.media.encryption == sip.SIP_MEDIA_ENCRYPT_REQUIRE
    assert out.media_encryption == sip.SIP_MEDIA_ENCRYPT_REQUIRE
    assert not info.HasField("media"), "the stored message is never mutated"
    with pytest.raises(v.Invalid, match=r"^no trunk numbers specified$"):
        v.apply_outbound_update(
            info, sip.SIPOutboundTrunkUpdate(numbers=models.ListUpdate(remove=["+15550100"]))
        )


# --- conflicts -------------------------------------------------------------------------


def test_inbound_conflicts_are_normalised() -> None:
    a = sip.SIPInboundTrunkInfo(sip_trunk_id="ST_a", numbers=["+1 555 0100"])
    b = sip.SIPInboundTrunkInfo(numbers=["15550100"])
    with pytest.raises(v.Invalid) as err:
        v.check_inbound_conflicts([a, b])
    assert str(err.value) == (
        'Conflicting inbound SIP Trunks: "<new>" and "ST_a", using the same number(s) '
        '["15550100"] without AllowedNumbers set'
    )
    # Distinct allowed (calling) numbers make the same called number fine.
    a2 = sip.SIPInboundTrunkInfo(sip_trunk_id="ST_a", numbers=["+1"], allowed_numbers=["+2"])
    b2 = sip.SIPInboundTrunkInfo(numbers=["+1"], allowed_numbers=["+3"])
    v.check_inbound_conflicts([a2, b2])
    b3 = sip.SIPInboundTrunkInfo(numbers=["+1"], allowed_numbers=["2"])
    with pytest.raises(v.Invalid, match=r'and AllowedNumber "2"$'):
        v.check_inbound_conflicts([a2, b3])


def test_dispatch_rule_conflict_key() -> None:
    direct = sip.SIPDispatchRule(dispatch_rule_direct=sip.SIPDispatchRuleDirect(room_name="r"))
    a = sip.SIPDispatchRuleInfo(sip_dispatch_rule_id="SDR_a", name="first", rule=direct)
    b = sip.SIPDispatchRuleInfo(rule=direct)
    with pytest.raises(v.Invalid) as err:
        v.check_dispatch_conflicts([a, b])
    assert str(err.value) == (
        "Dispatch rule for the same trunk, inbound number, number, and PIN combination "
        'already exists in dispatch rule "SDR_a" "first"'
    )
    pinned = sip.SIPDispatchRule(
        dispatch_rule_direct=sip.SIPDispatchRuleDirect(room_name="r", pin="12")
    )
    v.check_dispatch_conflicts([a, sip.SIPDispatchRuleInfo(rule=pinned)])
    v.check_dispatch_conflicts([a, sip.SIPDispatchRuleInfo(rule=direct, trunk_ids=["ST_1"])])


# --- CreateSIPParticipant ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("req", "message"),
    [
        (
            sip.CreateSIPParticipantRequest(sip_call_to="1", room_name="r"),
            "missing sip trunk id and sip number",
        ),
        (
            sip.CreateSIPParticipantRequest(sip_trunk_id="ST_x", room_name="r"),
            "missing sip callee number",
        ),
        (
            sip.CreateSIPParticipantRequest(sip_trunk_id="ST_x", sip_call_to="a@b", room_name="r"),
            "SipCallTo should be a phone number or SIP user, not a full SIP URI",
        ),
        (
            sip.CreateSIPParticipantRequest(sip_trunk_id="ST_x", sip_call_to="1"),
            "missing room name",
        ),
        (
            sip.CreateSIPParticipantRequest(
                trunk=sip.SIPOutboundConfig(), sip_call_to="1", room_name="r"
            ),
            "no outbound hostname specified",
        ),
        (
            sip.CreateSIPParticipantRequest(
                sip_trunk_id="ST_x", sip_call_to="1", room_name="r", display_name='a"b'
            ),
            "DisplayName must be a valid quoted string: invalid syntax",
        ),
        (
            sip.CreateSIPParticipantRequest(
                sip_trunk_id="ST_x",
                sip_call_to="1",
                room_name="r",
                destination=sip.Destination(country="UK"),
            ),
            "country must be a valid ISO 3166-1 alpha-2 code (2-letter like 'US', 'IN', 'UK')",
        ),
    ],
)
def test_participant_request_validation(req: sip.CreateSIPParticipantRequest, message: str) -> None:
    with pytest.raises(v.Invalid) as err:
        v.validate_create_sip_participant(req)
    assert str(err.value) == message


def test_prepare_participant_picks_number_and_fixes_twilio() -> None:
    store = SipStore()
    svc = SipService(store, None)
    store.save(
        store.outbound, outbound(sip_trunk_id="ST_t", address="x.pstn.twilio.com", numbers=["1555"])
    )
    store.save(store.outbound, outbound(sip_trunk_id="ST_e", numbers=[]))
    grants = Grants(sip_call=True)
    req = sip.CreateSIPParticipantRequest(sip_trunk_id="ST_t", sip_call_to="1", room_name="r")
    trunk, number = svc.prepare_participant(grants, req)
    assert (trunk.sip_trunk_id, number) == ("ST_t", "+1555")
    with pytest.raises(TwirpError) as err:
        svc.prepare_participant(
            grants,
            sip.CreateSIPParticipantRequest(sip_trunk_id="ST_e", sip_call_to="1", room_name="r"),
        )
    assert (err.value.code, err.value.msg) == (
        "failed_precondition",
        "twirp error unknown: no numbers on outbound trunk",
    )
    with pytest.raises(TwirpError) as err:
        svc.prepare_participant(Grants(sip_admin=True), req)
    assert (err.value.code, err.value.msg) == ("unauthenticated", "permissions denied")


# --- auth ------------------------------------------------------------------------------


def _token(claims: dict[str, object], secret: str = SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=alg)


def test_verifier_accepts_livekit_style_tokens() -> None:
    now = int(time.time())
    g = Verifier({"k": SECRET}).verify(
        _token(
            {
                "iss": "k",
                "exp": now + 60,
                "sip": {"admin": True},
                "video": {"roomAdmin": True, "room": "r"},
            }
        )
    )
    assert g.sip_admin and not g.sip_call and g.room_admin_for("r") and not g.room_admin_for("x")


@pytest.mark.parametrize(
    ("token", "text"),
    [
        ("not-a-jwt", "invalid authorization token"),
        (_token({"iss": "other", "exp": 2**31}), "invalid API key"),
        (
            _token({"iss": "k", "exp": 2**31}, secret="wrong-secret-0123456789abcdef0123"),
            "invalid authorization token: token signature is invalid: signature is invalid",
        ),
        (
            _token({"iss": "k", "exp": 2**31}, alg="HS384"),
            "invalid authorization token: token signature is invalid: "
            "signing method HS384 is invalid",
        ),
        (
            _token({"iss": "k"}),
            "invalid authorization token: token has invalid claims: "
            "token is missing required claim: exp claim is required",
        ),
        (
            _token({"iss": "k", "exp": int(time.time()) - 61}),
            "invalid authorization token: token has invalid claims: token is expired",
        ),
    ],
)
def test_verifier_failures(token: str, text: str) -> None:
    with pytest.raises(AuthFailure) as err:
        Verifier({"k": SECRET}).verify(token)
    assert err.value.text == text


def test_verifier_leeway_and_headers() -> None:
    ver = Verifier({"k": SECRET})
    ver.verify(_token({"iss": "k", "exp": int(time.time()) - 30}))  # within 60 s leeway
    assert ver.from_headers(None, None) is None
    with pytest.raises(
        AuthFailure, match=r"^invalid authorization header\. Must start with Bearer $"
    ):
        ver.from_headers("Basic abc", None)


# --- codec, faults, store --------------------------------------------------------------


def test_json_codec_matches_protojson() -> None:
    msg = sip.ListSIPOutboundTrunkRequest()
    body = b' {"trunkIds": ["ST_a"], "numbers": ["1"], "unknown": 3} trailing'
    decode_request("json", body, msg)
    assert list(msg.trunk_ids) == ["ST_a"]
    out = to_json_obj(sip.SIPOutboundTrunkInfo(sip_trunk_id="ST_a", transport=2))
    assert out["transport"] == "SIP_TRANSPORT_TCP"
    assert out["media"] is None and out["created_at"] is None and out["numbers"] == []
    assert out["auth_password"] == "" and out["headers"] == {}
    with pytest.raises(TwirpError, match="the json request could not be decoded"):
        decode_request("json", b"[]", sip.ListSIPOutboundTrunkRequest())


def test_json_as_protojson_reads_it() -> None:
    # livekit's Twirp servers decode with protojson.UnmarshalOptions{DiscardUnknown: true}
    # (protobuf-go encoding/protojson decode.go): an unknown enum name and an enum as a
    # numeric string are unknown values, dropped; a field given twice is an error
    msg = sip.CreateSIPOutboundTrunkRequest()
    decode_request("json", b'{"trunk": {"name": "a", "transport": "FOO"}}', msg)
    assert msg.trunk.name == "a" and msg.trunk.transport == 0
    msg = sip.CreateSIPOutboundTrunkRequest()
    decode_request("json", b'{"trunk": {"transport": "2", "mediaEncryption": "1"}}', msg)
    assert msg.trunk.transport == 0 and msg.trunk.media_encryption == 0
    msg = sip.CreateSIPOutboundTrunkRequest()
    decode_request("json", b'{"trunk": {"transport": 2}}', msg)  # a JSON number is read
    assert msg.trunk.transport == 2
    for body in (
        b'{"trunk": {"authUsername": "a", "auth_username": "b"}}',
        b'{"trunk": {"name": "a", "name": "b"}}',
    ):
        with pytest.raises(TwirpError, match="the json request could not be decoded"):
            decode_request("json", body, sip.CreateSIPOutboundTrunkRequest())
    with pytest.raises(TwirpError, match="the protobuf request could not be decoded"):
        decode_request("protobuf", b"\xff\xff\xff", sip.ListSIPOutboundTrunkRequest())


def test_error_body_is_go_json() -> None:
    body = error_body(TwirpError("invalid_argument", 'a <new> & "b"', {"z": "1", "a": "2"}))
    assert body == (
        b'{"code":"invalid_argument","msg":"a \\u003cnew\\u003e \\u0026 \\"b\\"",'
        b'"meta":{"a":"2","z":"1"}}'
    )


def test_fault_config_parsing() -> None:
    cfg = parse_config(
        {"errors": [{"method": "ListSIPOutboundTrunk", "rate": 0.5, "when": "after"}]}
    )
    assert cfg.errors[0].code == "unavailable" and cfg.errors[0].when == "after"
    rule = parse_error_rate("CreateSIPOutboundTrunk=0.25:internal:after")
    assert (rule.method, rule.rate, rule.code, rule.when) == (
        "CreateSIPOutboundTrunk",
        0.25,
        "internal",
        "after",
    )
    for bad in (
        {"errors": [{"rate": 2}]},
        {"garbage": {"kind": "x"}},
        {"nope": 1},
        {"stop_after": "3"},
    ):
        with pytest.raises(FaultConfigError):
            parse_config(bad)
    resp = sip.ListSIPOutboundTrunkResponse(items=[outbound(sip_trunk_id="ST_a", name="n")])
    spoil(resp, "unknown_enum")
    assert resp.items[0].transport == 99
    spoil(resp, "missing_fields")
    assert resp.items[0].sip_trunk_id == "" and resp.items[0].name == ""


async def test_store_persists_one_json_file_per_resource(tmp_path: Path) -> None:
    store = SipStore(tmp_path)
    store.load()
    for i in range(50):
        store.save(store.outbound, outbound(sip_trunk_id=f"ST_{i:03d}", auth_password="pw"))
    store.remove(store.outbound, "ST_007")
    await store.close()
    files = sorted(p.name for p in (tmp_path / "sip_outbound_trunks").iterdir())
    assert (
        len(files) == 49
        and "ST_007.json" not in files
        and not any(f.startswith(".") for f in files)
    )
    doc = json.loads((tmp_path / "sip_outbound_trunks" / "ST_001.json").read_text())
    assert doc["auth_password"] == "pw"
    again = SipStore(tmp_path)
    again.load()
    assert again.outbound.ids() == [f"ST_{i:03d}" for i in range(50) if i != 7]
    assert [t.sip_trunk_id for t in again.outbound.values("ST_047")] == ["ST_048", "ST_049"]


def test_verifier_cache_rechecks_expiry() -> None:
    ver = Verifier({"k": SECRET})
    exp = int(time.time()) + 10
    tok = _token({"iss": "k", "exp": exp, "sip": {"call": True}})
    assert ver.verify(tok).sip_call
    assert ver.verify(tok, now=exp).sip_call  # cached, still inside the leeway
    with pytest.raises(AuthFailure, match=r"token is expired$"):
        ver.verify(tok, now=exp + 61)
