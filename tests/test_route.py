"""``sipctl.route``: LiveKit's inbound routing rules, case by case.

The tables follow livekit/protocol ``sip/sip_test.go`` (``TestNormalizeNumber``,
``trunkCases``, ``dispatchCases``, ``TestMatchMasks``), rewritten for sipctl's models, plus
the cases users trip over: '+' in numbers, exact dispatch-rule numbers, allow-lists, PINs,
catch-all versus trunk-specific rules, hide_phone_number.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from sipctl.models import DispatchRule, InboundTrunk
from sipctl.numbers import match_addresses, normalize_number
from sipctl.route import (
    Call,
    Outcome,
    RuleEntry,
    TrunkEntry,
    participant_identity,
    priority,
    route,
    rule_conflicts,
)

CALLER = "+15551112222"
CALLED = "+15550700001"


def trunk(key: str, **fields: Any) -> TrunkEntry:
    return TrunkEntry(key, key, InboundTrunk.model_validate(fields))


def direct(room: str, pin: str = "") -> dict[str, Any]:
    return {"direct": {"room_name": room, "pin": pin}}


def rule(key: str, order: int = 0, **fields: Any) -> RuleEntry:
    fields.setdefault("rule", direct(key))
    return RuleEntry(key, key, DispatchRule.model_validate(fields), order)


def rules(*entries: RuleEntry) -> list[RuleEntry]:
    return [RuleEntry(e.key, e.name, e.model, i) for i, e in enumerate(entries)]


def call(to: str = CALLED, frm: str = CALLER, ip: str = "1.1.1.1", **kw: Any) -> Call:
    return Call(to=to, from_=frm, source_ip=ip, **kw)


def reasons(decision: Any, name: str) -> str:
    found = [r.reason for r in decision.rejected if r.name == name]
    assert found, f"{name} not among the rejected: {decision.rejected}"
    return found[0]


# --- numbers and addresses ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("", ""),
        ("123", "+123"),
        ("+123", "+123"),
        ("user", "user"),
        ("(123) 456 7890", "+1234567890"),
        ("+1 555-070-0001", "+15550700001"),
        ("15550700001\n", "15550700001\n"),  # not a number: kept (Go's $ is the end)
        ("١٢٣", "١٢٣"),  # non-ASCII digits are not digits to Go's RE2
        ("+", "+"),
        ("++1", "++1"),
    ],
)
def test_normalize_number(raw: str, normal: str) -> None:
    assert normalize_number(raw) == normal


@pytest.mark.parametrize(
    ("addr", "host", "masks", "ok"),
    [
        ("192.168.0.10", "", [], True),
        ("192.168.0.10", "", ["192.168.0.10"], True),
        ("192.168.0.10", "", ["192.168.0.11"], False),
        ("192.168.0.10", "", ["192.168.0.0/24"], True),
        ("192.168.0.10", "", ["192.168.0.10/0"], True),
        ("192.168.0.10", "", ["192.168.1.0/24"], False),
        ("192.168.0.10", "sip.example.com", ["sip.example.com"], True),
        ("192.168.0.10", "sip.example.com", ["some.domain"], False),
        ("192.168.0.10", "", ["some.domain,192.168.0.10/24", "192.168.0.0/24"], True),
        ("192.168.0.10", "", ["some.domain,192.168.0.10/24"], True),  # only invalid: open
        ("192.168.0.10", "", ["some.domain", "192.168.1.0/24"], False),
        ("::1", "", ["::1"], True),
        ("::1", "", ["127.0.0.1"], False),
        ("::ffff:10.0.0.1", "", ["10.0.0.0/8"], False),
        ("", "", ["10.0.0.0/8"], True),  # an unknown source is not checked
        ("not-an-ip", "", ["10.0.0.0/8"], True),
    ],
)
def test_match_addresses(addr: str, host: str, masks: list[str], ok: bool) -> None:
    assert match_addresses(addr, host, masks) is ok


# --- trunks ---------------------------------------------------------------------------------


def test_no_trunks_no_rules_drops() -> None:
    d = route(call(), [], [])
    assert d.outcome is Outcome.dropped and d.trunk is None and d.rule is None


@pytest.mark.parametrize(
    ("trunks", "to", "expected"),
    [
        ([trunk("a", allowed_addresses=["0.0.0.0/0"])], CALLED, "a"),  # one wildcard
        ([trunk("a", numbers=[CALLED])], CALLED, "a"),
        ([trunk("a", numbers=["+15550700009"])], CALLED, None),
        ([trunk("a", numbers=["+15550700009"]), trunk("b", numbers=[CALLED])], CALLED, "b"),
        # with and without '+', either side
        ([trunk("a", numbers=["15550700001"])], "+15550700001", "a"),
        ([trunk("a", numbers=["+15550700001"])], "15550700001", "a"),
        ([trunk("a", numbers=["+15550700001", "15550700001"])], "15550700001", "a"),
        # formatted dialled numbers normalise too
        ([trunk("a", numbers=["+15550700001"])], "1 (555) 070-0001", "a"),
        # a specific trunk beats defaults, even several
        (
            [
                trunk("d1", allowed_addresses=["1.1.1.1"]),
                trunk("s", numbers=[CALLED]),
                trunk("d2", allowed_addresses=["1.1.1.0/24"]),
            ],
            CALLED,
            "s",
        ),
    ],
)
def test_trunk_selection(trunks: list[TrunkEntry], to: str, expected: str | None) -> None:
    d = route(call(to=to), trunks, [rule("any")])
    assert (d.trunk.key if d.trunk else None) == expected


def test_allowed_numbers_filter_the_caller_with_normalisation() -> None:
    t = [trunk("p", numbers=[CALLED], allowed_numbers=["15551112222"])]
    assert route(call(frm="+15551112222"), t, [rule("any")]).trunk is not None
    d = route(call(frm="+15553334444"), t, [rule("any")])
    assert d.trunk is None
    assert "caller +15553334444 is not in allowed_numbers" in reasons(d, "p")
    unknown = route(call(frm=""), t, [rule("any")])
    assert "pass --from" in reasons(unknown, "p")


def test_allowed_addresses_filter_the_source() -> None:
    t = [trunk("o", numbers=[CALLED], allowed_addresses=["10.0.0.0/8", "192.0.2.7"])]
    assert route(call(ip="10.9.8.7"), t, []).trunk is not None
    assert route(call(ip="192.0.2.7"), t, []).trunk is not None
    d = route(call(ip="192.0.2.8"), t, [])
    assert d.trunk is None and "not in allowed_addresses" in reasons(d, "o")
    assert route(call(ip=""), t, []).trunk is not None  # not given: not checked


def test_two_trunks_for_one_number_refuse_the_call() -> None:
    # Allowed by LiveKit at creation (different allowed_numbers vs none), refused at call.
    t = [
        trunk("a", numbers=[CALLED]),
        trunk("b", numbers=[CALLED], allowed_numbers=[CALLER]),
    ]
    d = route(call(), t, [rule("any")])
    assert d.outcome is Outcome.unavailable and d.trunk is None
    assert "Multiple SIP Trunks matched" in reasons(d, "a")
    # another caller passes only a's filter: no conflict
    assert route(call(frm="+15559999999"), t, [rule("any")]).trunk is not None


def test_two_default_trunks_refuse_the_call() -> None:
    t = [trunk("a", allowed_addresses=["1.1.1.1"]), trunk("b", allowed_addresses=["1.1.1.0/24"])]
    assert route(call(), t, [rule("any")]).outcome is Outcome.unavailable
    assert route(call(ip="1.1.1.2"), t, [rule("any")]).trunk is not None  # only b


def test_auth_is_reported() -> None:
    t = [trunk("a", numbers=[CALLED], auth={"username": "u", "password": "p"})]
    assert route(call(), t, [rule("any")]).auth_username == "u"


# --- dispatch rules -------------------------------------------------------------------------

T1 = trunk("t1", numbers=[CALLED])
T2 = trunk("t2", numbers=["+15550700002"])


@pytest.mark.parametrize(
    ("name", "trunks", "entries", "pin", "expected"),
    [
        # dispatchCases of sip_test.go, in sipctl's terms
        ("empty", [], [], None, None),
        ("only trunk", [T1], [], None, None),
        ("one rule/no trunk", [], [rule("sip")], None, "sip"),
        ("one rule/default trunk", [T1], [rule("sip")], None, "sip"),
        ("one rule/specific trunk", [T1, T2], [rule("sip", trunks=["t1", "t2"])], None, "sip"),
        ("one rule/wrong trunk", [T1, T2], [rule("sip", trunks=["t2"])], None, None),
        (
            "direct pin/correct",
            [T1, T2],
            [
                rule("a", trunks=["t1"], rule=direct("sip", "123")),
                rule("b", trunks=["t2"], rule=direct("sip", "456")),
            ],
            "123",
            "a",
        ),
        (
            "direct pin/wrong",
            [T1, T2],
            [
                rule("a", trunks=["t1"], rule=direct("sip", "123")),
                rule("b", trunks=["t2"], rule=direct("sip", "456")),
            ],
            "999",
            None,
        ),
        (
            "direct pin/no conflict on different trunk",
            [T1, T2],
            [
                rule("a", trunks=["t1"], rule=direct("sip1", "123")),
                rule("b", trunks=["t2"], rule=direct("sip2", "123")),
            ],
            "123",
            "a",
        ),
        (
            "direct pin/default and specific",
            [T1],
            [
                rule("a", rule=direct("sip1", "123")),
                rule("b", trunks=["t1"], rule=direct("sip2", "123")),
            ],
            "123",
            "b",
        ),
        (
            "direct/default and specific",
            [T1],
            [rule("a", rule=direct("sip1")), rule("b", trunks=["t1"], rule=direct("sip2"))],
            None,
            "b",
        ),
        (
            "direct/default and specific/mixed 1",
            [T1],
            [rule("a", rule=direct("sip1", "123")), rule("b", trunks=["t1"], rule=direct("sip2"))],
            None,
            "b",
        ),
        (
            "direct/default and specific/mixed 2",
            [T1],
            [rule("a", rule=direct("sip1")), rule("b", trunks=["t1"], rule=direct("sip2", "123"))],
            "123",
            "b",
        ),
        (
            "direct/inbound number specific",
            [T1],
            [
                rule("a", rule=direct("sip1")),
                rule("b", inbound_numbers=[CALLER], rule=direct("sip2")),
            ],
            None,
            "b",
        ),
        (
            "direct/inbound number specific pin",
            [T1],
            [
                rule("a", rule=direct("sip1", "123")),
                rule("b", inbound_numbers=[CALLER], rule=direct("sip2", "123")),
            ],
            "123",
            "b",
        ),
        (
            "direct/open specific vs pin generic (personal room)",
            [T1],
            [
                rule("a", rule=direct("sip1", "123")),
                rule("b", inbound_numbers=[CALLER], rule=direct("sip2")),
            ],
            None,
            "b",
        ),
        (
            "direct vs individual/priority",
            [T1],
            [
                rule("a", rule={"individual": {"room_prefix": "pref_", "pin": "123"}}),
                rule("b", rule=direct("sip", "456")),
            ],
            "456",
            "b",
        ),
        (
            "direct/number specific",
            [T1],
            [rule("a", rule=direct("sip_1")), rule("b", numbers=[CALLED], rule=direct("sip_2"))],
            None,
            "b",
        ),
        (
            "direct/number specific pin",
            [T1],
            [
                rule("a", rule=direct("sip_1", "123")),
                rule("b", numbers=[CALLED], rule=direct("sip_2", "123")),
            ],
            "123",
            "b",
        ),
        (
            "direct/open number+inbound specific vs pin generic",
            [T1],
            [
                rule("a", rule=direct("sip_1", "123")),
                rule("b", numbers=[CALLED], inbound_numbers=[CALLER], rule=direct("sip_2")),
            ],
            None,
            "b",
        ),
    ],
)
def test_dispatch_cases(
    name: str,
    trunks: list[TrunkEntry],
    entries: list[RuleEntry],
    pin: str | None,
    expected: str | None,
) -> None:
    d = route(call(pin=pin), trunks, rules(*entries))
    assert (d.rule.key if d.rule else None) == expected, d.rejected
    assert d.landed is (expected is not None)


@pytest.mark.parametrize(
    "entries",
    [
        # dispatchCases marked invalid: LiveKit refuses them, and fails the evaluation
        [
            rule("a", trunks=["t1"], rule=direct("sip1", "123")),
            rule("b", trunks=["t1", "t2"], rule=direct("sip2", "123")),
        ],
        [rule("a", rule=direct("sip1")), rule("b", rule=direct("sip2"))],
        [
            rule("a", inbound_numbers=[CALLER], rule=direct("sip1")),
            rule("b", inbound_numbers=[CALLER, "+15559999999"], rule=direct("sip2")),
        ],
        [
            rule("a", rule={"individual": {"room_prefix": "p", "pin": "123"}}),
            rule("b", rule=direct("s", "123")),
        ],
        [
            rule("a", numbers=[CALLED], rule=direct("s1")),
            rule("b", numbers=["15550700001"], rule=direct("s2")),
        ],
        [rule("a", numbers=[CALLED, "15550700001"])],  # the same number twice in one rule
    ],
)
def test_conflicting_rules_fail_the_evaluation(entries: list[RuleEntry]) -> None:
    found = rule_conflicts(rules(*entries))
    assert found
    d = route(call(pin="123"), [T1, T2], rules(*entries))
    assert d.outcome is Outcome.unavailable and d.rule is None


def test_conflicts_only_count_for_the_listed_trunk() -> None:
    # b (t2 only) is not listed for a call on t1, so its clash with a on t2 does not matter
    entries = rules(
        rule("a", trunks=["t1", "t2"], rule=direct("x")), rule("b", trunks=["t2"], rule=direct("y"))
    )
    assert route(call(), [T1, T2], entries).rule is not None
    assert route(call(to="+15550700002"), [T1, T2], entries).outcome is Outcome.unavailable


def test_dispatch_numbers_compare_exactly_unlike_trunks() -> None:
    # livekit/protocol#737: the trunk matches 15550700001, the rule's +15550700001 does not
    entries = rules(rule("sales", numbers=["+15550700001"]))
    d = route(call(to="15550700001"), [T1], entries)
    assert d.trunk is not None and d.rule is None and d.outcome is Outcome.dropped
    assert "compares a dispatch rule's numbers exactly" in reasons(d, "sales")
    assert route(call(to="+15550700001"), [T1], entries).rule is not None


def test_inbound_numbers_compare_exactly() -> None:
    entries = rules(rule("vip", inbound_numbers=["15551112222"]))
    d = route(call(frm="+15551112222"), [T1], entries)
    assert d.rule is None and "exactly" in reasons(d, "vip")
    assert route(call(frm="15551112222"), [T1], entries).rule is not None
    unknown = route(call(frm=""), [T1], entries)
    assert "pass --from" in reasons(unknown, "vip")


def test_no_trunk_still_reaches_a_catch_all_rule() -> None:
    # OSS LiveKit answers "no trunk" with an empty auth answer (accept): rules without
    # trunks still take the call, rules naming trunks do not.
    t = [trunk("o", numbers=[CALLED], allowed_addresses=["10.0.0.0/8"])]
    entries = rules(rule("scoped", trunks=["o"]), rule("catch", numbers=[CALLED]))
    d = route(call(ip="192.0.2.1"), t, entries)
    assert d.trunk is None and d.rule is not None and d.rule.key == "catch"
    assert "no trunk matched" in reasons(d, "scoped")


def test_specific_rule_beats_higher_priority_catch_all() -> None:
    entries = rules(
        rule("catch", numbers=[CALLED], inbound_numbers=[CALLER], rule=direct("c", "1")),
        rule("scoped", trunks=["t1"], rule={"callee": {}}),
    )
    d = route(call(), [T1], entries)
    assert d.rule is not None and d.rule.key == "scoped"
    assert "trunk-specific rules come first" in reasons(d, "catch")


def test_priority_values() -> None:
    def p(**fields: Any) -> int:
        return priority(DispatchRule.model_validate(fields))

    assert p(rule=direct("r", "1"), numbers=["1"], inbound_numbers=["2"]) == 0
    assert p(rule={"individual": {"pin": "1"}}, numbers=["1"], inbound_numbers=["2"]) == 1
    assert p(rule={"callee": {"pin": "1"}}, numbers=["1"], inbound_numbers=["2"]) == 2
    assert p(rule=direct("r"), numbers=["1"], inbound_numbers=["2"]) == 100
    assert p(rule={"callee": {}}, numbers=["1"]) == 1102
    assert p(rule={"individual": {}}) == 2101


def test_tie_breaks_on_room_then_order() -> None:
    entries = rules(
        rule("z", numbers=[CALLED], rule=direct("room-b")),
        rule("y", inbound_numbers=[CALLER], rule=direct("room-a")),
    )
    d = route(call(), [T1], entries)
    assert d.rule is not None and d.rule.key == "y"


# --- PINs -----------------------------------------------------------------------------------


def _pin_setup() -> list[RuleEntry]:
    return rules(
        rule("conf", rule=direct("conf", "1234")), rule("board", rule=direct("board", "999"))
    )


def test_pin_rule_without_pin_prompts() -> None:
    d = route(call(), [T1], _pin_setup())
    assert d.outcome is Outcome.pin_prompt and d.rule is None and not d.landed
    assert "asks for it" in reasons(d, "board")


@pytest.mark.parametrize(("pin", "expected"), [("1234", "conf"), ("999", "board")])
def test_pin_selects_among_pin_rules(pin: str, expected: str) -> None:
    d = route(call(pin=pin), [T1], _pin_setup())
    assert d.rule is not None and d.rule.key == expected and d.room_name == expected


@pytest.mark.parametrize("pin", ["0000", "", "1" * 17])
def test_wrong_or_empty_pin_hangs_up(pin: str) -> None:
    d = route(call(pin=pin), [T1], _pin_setup())
    assert d.outcome is Outcome.wrong_pin and d.rule is None


def test_empty_pin_falls_back_to_an_open_rule() -> None:
    # '#' alone (NoPin) skips PIN rules and may land in an open one
    entries = rules(
        rule("pinned", numbers=[CALLED], rule=direct("p", "1")), rule("open", rule=direct("o"))
    )
    assert route(call(), [T1], entries).outcome is Outcome.pin_prompt
    d = route(call(pin=""), [T1], entries)
    assert d.rule is not None and d.rule.key == "open"
    wrong = route(call(pin="2"), [T1], entries)
    assert wrong.outcome is Outcome.wrong_pin  # a PIN given: open rules are skipped


def test_pin_is_ignored_when_an_open_rule_wins() -> None:
    entries = rules(rule("open", numbers=[CALLED]), rule("pinned", rule=direct("p", "1")))
    d = route(call(pin="1"), [T1], entries)
    assert d.rule is not None and d.rule.key == "open"


# --- rooms and identities -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "hide", "frm", "to", "room"),
    [
        ({"direct": {"room_name": "sales"}}, False, CALLER, CALLED, "sales"),
        (
            {"individual": {"room_prefix": "call"}},
            False,
            CALLER,
            CALLED,
            "call_+15551112222_<random>",
        ),
        ({"individual": {}}, False, CALLER, CALLED, "+15551112222_<random>"),
        (
            {"individual": {"room_prefix": "c", "no_randomness": True}},
            False,
            CALLER,
            CALLED,
            "c_+15551112222",
        ),
        ({"individual": {"room_prefix": "c"}}, True, CALLER, CALLED, "c_2222_<random>"),
        ({"individual": {"room_prefix": "c"}}, True, "123", CALLED, "c_3_<random>"),
        ({"individual": {"room_prefix": "c"}}, False, "", CALLED, "c_<caller>_<random>"),
        ({"callee": {"room_prefix": "in"}}, False, CALLER, CALLED, "in_+15550700001"),
        ({"callee": {}}, False, CALLER, "15550700001", "15550700001"),
        (
            {"callee": {"room_prefix": "in", "randomize": True}},
            False,
            CALLER,
            CALLED,
            "in_+15550700001_<random>",
        ),
    ],
)
def test_room_names(kind: dict[str, Any], hide: bool, frm: str, to: str, room: str) -> None:
    t = [trunk("t", numbers=[to])]
    d = route(call(to=to, frm=frm), t, rules(rule("r", rule=kind, hide_phone_number=hide)))
    assert d.room_name == room


def test_identity_hides_the_phone_number() -> None:
    plain = DispatchRule.model_validate({"rule": direct("r")})
    hidden = DispatchRule.model_validate({"rule": direct("r"), "hide_phone_number": True})
    assert participant_identity(plain, CALLER) == "sip_+15551112222"
    expected = "sip_" + hashlib.sha256(CALLER.encode()).hexdigest()[:16]
    assert participant_identity(hidden, CALLER) == expected


def test_every_candidate_gets_a_reason() -> None:
    t = [T1, T2, trunk("o", allowed_addresses=["10.0.0.0/8"])]
    entries = rules(
        rule("sales", trunks=["t1"], numbers=[CALLED]),
        rule("other", trunks=["t2"]),
        rule("support", trunks=["t1"], rule={"individual": {}}),
        rule("vip", inbound_numbers=["+15550000000"]),
    )
    d = route(call(), t, entries)
    assert d.rule is not None and d.rule.key == "sales"
    names = {(r.kind, r.name) for r in d.rejected}
    assert names == {
        ("inbound_trunk", "t2"),
        ("inbound_trunk", "o"),
        ("dispatch_rule", "other"),
        ("dispatch_rule", "support"),
        ("dispatch_rule", "vip"),
    }
    assert "applies to trunks t2, not t1" in reasons(d, "other")
