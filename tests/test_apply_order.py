"""The order of an apply: freed before taken, trunks before rules, other deletes last."""

from __future__ import annotations

from sipctl.apply import dependencies
from sipctl.numbers import normalize_number
from sipctl.plan import make_plan
from sipctl.server_rules import conflict_keys
from tests.reconcile_helpers import (
    API_SECRET,
    config,
    in_model,
    inbound_pb,
    live,
    out_model,
    outbound_pb,
    rule_model,
    rule_pb,
)


def test_normalize_number_like_livekit() -> None:
    assert normalize_number("1 (555) 010-0001") == "+15550100001"
    assert normalize_number("+15550100001") == "+15550100001"
    assert normalize_number("sip-user") == "sip-user"


def test_conflict_keys() -> None:
    assert conflict_keys(in_model(numbers=["+1555"], allowed_numbers=["+1666", "+1777"])) == {
        ("+1555", "+1666"),
        ("+1555", "+1777"),
    }
    assert conflict_keys(rule_model(trunks=["a", "b"], numbers=["+1555"])) == {
        ("", "a", "", "+1555"),
        ("", "b", "", "+1555"),
    }


def test_a_number_moved_between_inbound_trunks_is_freed_first() -> None:
    cfg = config(
        inbound={
            "a": in_model(numbers=["+15550200002"]),
            "b": in_model(numbers=["+15550200003", "+15550200001"]),
        }
    )
    state = live(
        inbound=(
            inbound_pb("a", "ST_a", numbers=("+15550200001", "+15550200002")),
            inbound_pb("b", "ST_b", numbers=("+15550200003",)),
        )
    )
    plan = make_plan(cfg, state, api_secret=API_SECRET)
    deps, warnings = dependencies(plan.changes)
    assert deps["inbound_trunk/b"].hard == {"inbound_trunk/a"}
    assert deps["inbound_trunk/a"].hard == set()
    assert warnings == []


def test_a_deleted_trunk_frees_its_number_before_a_create_takes_it() -> None:
    cfg = config(inbound={"new": in_model(numbers=["+15550200001"])})
    state = live(inbound=(inbound_pb("old", "ST_old", numbers=("+15550200001",)),))
    plan = make_plan(cfg, state, api_secret=API_SECRET, allow_delete=True)
    deps, _ = dependencies(plan.changes)
    assert deps["inbound_trunk/new"].hard == {"inbound_trunk/old"}
    assert deps["inbound_trunk/old"].soft == set()  # a freeing delete runs first


def test_rules_wait_for_the_trunks_they_reference() -> None:
    cfg = config(inbound={"office": in_model()}, rules={"r": rule_model(trunks=["office"])})
    plan = make_plan(cfg, live(), api_secret=API_SECRET)
    deps, _ = dependencies(plan.changes)
    assert deps["dispatch_rule/r"].hard == {"inbound_trunk/office"}


def test_other_deletes_last_rules_before_trunks() -> None:
    cfg = config(outbound={"keep": out_model(address="new.example.com")})
    state = live(
        outbound=(outbound_pb("keep", "ST_k"), outbound_pb("gone", "ST_g")),
        inbound=(inbound_pb("old-in", "ST_i"),),
        rules=(rule_pb("old-rule", trunk_ids=("ST_i",)),),
    )
    plan = make_plan(cfg, state, api_secret=API_SECRET, allow_delete=True)
    deps, _ = dependencies(plan.changes)
    assert deps["outbound_trunk/gone"].soft == {"outbound_trunk/keep", "dispatch_rule/old-rule"}
    assert deps["inbound_trunk/old-in"].soft == {"outbound_trunk/keep", "dispatch_rule/old-rule"}
    assert deps["dispatch_rule/old-rule"].soft == {"outbound_trunk/keep"}
    assert deps["outbound_trunk/keep"].hard == deps["outbound_trunk/keep"].soft == set()


def test_a_swap_is_a_cycle_broken_with_a_warning() -> None:
    cfg = config(
        inbound={"a": in_model(numbers=["+15550200002"]), "b": in_model(numbers=["+15550200001"])}
    )
    state = live(
        inbound=(
            inbound_pb("a", "ST_a", numbers=("+15550200001",)),
            inbound_pb("b", "ST_b", numbers=("+15550200002",)),
        )
    )
    plan = make_plan(cfg, state, api_secret=API_SECRET)
    deps, warnings = dependencies(plan.changes)
    assert len(warnings) == 1 and "swapped" in warnings[0]
    # no cycle remains
    assert not (
        "inbound_trunk/b" in deps["inbound_trunk/a"].hard
        and "inbound_trunk/a" in deps["inbound_trunk/b"].hard
    )
