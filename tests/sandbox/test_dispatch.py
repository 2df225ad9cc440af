"""Inbound routing decisions (sipctl.sandbox.dispatch) against LiveKit's rules.

Sources: livekit/protocol sip/sip.go (MatchTrunkDetailed, matchAddrMasks, matchNumbers,
MatchDispatchRuleIter, DispatchRulePriority, DispatchRuleValidator, EvaluateDispatchRule)
and livekit-server pkg/service/ioservice_sip.go (EvaluateSIPDispatchRules: no rule -> DROP).
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from livekit.protocol.sip import (
    SIPDispatchRule,
    SIPDispatchRuleCallee,
    SIPDispatchRuleDirect,
    SIPDispatchRuleIndividual,
    SIPDispatchRuleInfo,
    SIPInboundTrunkInfo,
)

from sipctl.sandbox.dispatch import InboundCall, RoutingError, match_trunk, priority, route
from tests.fixtures.sandbox import Sandbox


def trunk(tid: str, *numbers: str, **kw: Any) -> SIPInboundTrunkInfo:
    return SIPInboundTrunkInfo(sip_trunk_id=tid, numbers=list(numbers), **kw)


def direct(rid: str, room: str, pin: str = "", **kw: Any) -> SIPDispatchRuleInfo:
    rule = SIPDispatchRule(dispatch_rule_direct=SIPDispatchRuleDirect(room_name=room, pin=pin))
    return SIPDispatchRuleInfo(sip_dispatch_rule_id=rid, rule=rule, **kw)


def call(to: str = "+15550700001", frm: str = "+15557770000", **kw: Any) -> InboundCall:
    return InboundCall(to_user=to, from_user=frm, call_id="SCL_test", **kw)


@pytest.mark.parametrize("dialled", ["+15550700001", "15550700001", "+1 (555) 070-0001"])
def test_trunk_number_matches_with_or_without_plus(dialled: str) -> None:
    # MatchTrunkDetailed: num == To.User or NormalizeNumber(num) == NormalizeNumber(To.User)
    t = trunk("ST_a", "15550700001")
    assert match_trunk([t], call(dialled)) is t


def test_specific_trunk_beats_default_and_filters() -> None:
    default = trunk("ST_default")
    specific = trunk("ST_specific", "+15550700001")
    assert match_trunk([default, specific], call()) is specific
    assert match_trunk([default, specific], call("+15550700002")) is default
    # allowed_numbers (normalised) and allowed_addresses (CIDR, exact IP, From host)
    caller_only = trunk("ST_c", "+15550700003", allowed_numbers=["15557770000"])
    assert match_trunk([caller_only], call("+15550700003")) is caller_only
    assert match_trunk([caller_only], call("+15550700003", frm="+1999")) is None
    cidr = trunk("ST_ip", "+15550700004", allowed_addresses=["10.0.0.0/8", "pbx.example"])
    assert match_trunk([cidr], call("+15550700004", source_ip="10.1.2.3")) is cidr
    assert match_trunk([cidr], call("+15550700004", source_ip="127.0.0.1")) is None
    assert (
        match_trunk([cidr], call("+15550700004", source_ip="127.0.0.1", from_host="pbx.example"))
        is cidr
    )
    # an invalid mask is ignored: no valid mask left allows every address
    bad = trunk("ST_bad", "+15550700005", allowed_addresses=["1.2.3.4;x"])
    assert match_trunk([bad], call("+15550700005", source_ip="127.0.0.1")) is bad


def test_trunk_conflicts_are_errors() -> None:
    with pytest.raises(RoutingError, match='Multiple SIP Trunks matched for "\\+15550700001"'):
        match_trunk([trunk("ST_a", "+15550700001"), trunk("ST_b", "15550700001")], call())
    with pytest.raises(RoutingError, match="Multiple default SIP Trunks matched"):
        match_trunk([trunk("ST_a"), trunk("ST_b")], call())


def test_rule_precedence_and_numbers_are_exact() -> None:
    t = trunk("ST_a", "+15550700001")
    catch_all = direct("SDR_all", "all")
    for_trunk = direct("SDR_trunk", "trunk", trunk_ids=["ST_a"])
    by_caller = direct("SDR_caller", "vip", trunk_ids=["ST_a"], inbound_numbers=["+15557770000"])
    d = route([t], [catch_all, for_trunk, by_caller], call())
    assert d.rule is not None and d.rule.sip_dispatch_rule_id == "SDR_caller"
    d = route([t], [catch_all, for_trunk, by_caller], call(frm="+1999"))
    assert d.rule is not None and d.rule.sip_dispatch_rule_id == "SDR_trunk"
    # a rule for other trunks is not listed; without a trunk only wildcard rules apply
    d = route([], [for_trunk, catch_all], call())
    assert d.rule is not None and d.rule.sip_dispatch_rule_id == "SDR_all"
    # numbers: exact match, no normalisation (slices.Contains)
    exact = direct("SDR_n", "n", numbers=["15550700001"])
    assert route([], [exact], call()).result == "drop"
    assert route([], [exact], call("15550700001")).result == "accept"
    # DispatchRulePriority: 0/100 by PIN, +1000 per missing inbound_numbers / numbers
    assert priority(direct("x", "r", pin="1")) == 2000
    assert priority(by_caller) == 1100 and priority(for_trunk) == 2100


def test_drop_when_nothing_matches() -> None:
    d = route([], [], call())
    assert d.result == "drop" and d.reason == "No SIP Dispatch Rules defined"


def test_pin_rules() -> None:
    pinned = direct("SDR_pin", "secret", pin="1234")
    open_rule = direct("SDR_open", "lobby", numbers=["+15550700001"])
    # the open rule with numbers (100 + 1000) outranks the PIN rule without (0 + 2000)
    assert route([], [pinned, open_rule], call()).rule is open_rule
    assert route([], [pinned], call()).result == "request_pin"
    assert route([], [pinned], call(), pin="1234").room_name == "secret"
    # a wrong PIN never falls back to open rules
    assert route([], [pinned, open_rule], call(), pin="9").result == "drop"
    # no PIN ('#' alone) skips PIN rules
    assert route([], [pinned, open_rule], call(), no_pin=True).rule is open_rule


def test_room_names_identity_and_attributes() -> None:
    t = trunk("ST_a", "+15550700001")
    ind = SIPDispatchRuleInfo(
        sip_dispatch_rule_id="SDR_i",
        rule=SIPDispatchRule(dispatch_rule_individual=SIPDispatchRuleIndividual(room_prefix="c")),
        attributes={"k": "v"},
        metadata="m",
    )
    d = route([t], [ind], call(from_host="10.0.0.1"))
    assert d.room_name.startswith("c_+15557770000_") and len(d.room_name) == 15 + 12
    assert d.identity == "sip_+15557770000" and d.name == "Phone +15557770000"
    assert d.metadata == "m"
    assert d.attributes == {
        "k": "v",
        "sip.callID": "SCL_test",
        "sip.trunkID": "ST_a",
        "sip.phoneNumber": "+15557770000",
        "sip.hostname": "10.0.0.1",
        "sip.trunkPhoneNumber": "+15550700001",
        "sip.ruleID": "SDR_i",
    }
    callee = SIPDispatchRuleInfo(
        sip_dispatch_rule_id="SDR_c",
        rule=SIPDispatchRule(dispatch_rule_callee=SIPDispatchRuleCallee(room_prefix="in")),
        hide_phone_number=True,
    )
    d = route([t], [callee], call())
    assert d.room_name == "in_+15550700001"
    h = hashlib.sha256(b"+15557770000").digest()[:8].hex()
    assert d.identity == "sip_" + h and d.name == "Phone 0000"
    assert "sip.phoneNumber" not in d.attributes


def test_conflicting_rules_are_an_error() -> None:
    with pytest.raises(RoutingError, match="Dispatch rule for the same trunk"):
        route([], [direct("SDR_a", "a"), direct("SDR_b", "b")], call())


def test_admin_route_endpoint(sandbox: Sandbox) -> None:
    import asyncio

    from livekit import api
    from livekit.protocol.sip import CreateSIPDispatchRuleRequest, CreateSIPInboundTrunkRequest

    async def setup() -> tuple[str, str]:
        async with api.LiveKitAPI(sandbox.url, sandbox.api_key, sandbox.api_secret) as lk:
            t = await lk.sip.create_inbound_trunk(
                CreateSIPInboundTrunkRequest(
                    trunk=SIPInboundTrunkInfo(name="t", numbers=["+15550700001"])
                )
            )
            r = await lk.sip.create_dispatch_rule(
                CreateSIPDispatchRuleRequest(
                    dispatch_rule=SIPDispatchRuleInfo(
                        rule=SIPDispatchRule(
                            dispatch_rule_direct=SIPDispatchRuleDirect(room_name="sales")
                        ),
                        trunk_ids=[t.sip_trunk_id],
                    )
                )
            )
            return t.sip_trunk_id, r.sip_dispatch_rule_id

    tid, rid = asyncio.run(setup())
    status, body = sandbox.admin("POST", "route", {"to": "15550700001", "from": "+1555"})
    assert status == 200
    assert body["result"] == "accept" and body["trunk_id"] == tid and body["rule_id"] == rid
    assert body["room_name"] == "sales" and body["agents"] == []
    assert body["trunk_name"] == "t" and body["rule_name"] == ""
    status, body = sandbox.admin("POST", "route", {"to": "+1999", "from": "+1555"})
    assert body["result"] == "drop" and body["trunk_id"] is None
