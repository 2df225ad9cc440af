"""The diff: creates, field-level updates, adopts, orphans, deletes, unmanaged, refusals."""

from __future__ import annotations

from typing import Any

import pytest
from livekit.protocol import sip as pb

from sipctl.config.loader import Config
from sipctl.errors import LiveKitError, SipctlError
from sipctl.live import LiveState
from sipctl.models import DispatchRule
from sipctl.plan import make_plan
from sipctl.plan_result import Plan
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


def plan_of(cfg: Config, state: LiveState, **kw: Any) -> Plan:
    return make_plan(cfg, state, api_secret=API_SECRET, **kw)


def test_identical_resources_give_no_changes() -> None:
    cfg = config(
        outbound={"acme": out_model(headers={"X-A": "1"}, metadata={"team": "voice"})},
        inbound={"office": in_model()},
        rules={"support": rule_model(trunks=["office"])},
    )
    state = live(
        outbound=(outbound_pb("acme", headers={"X-A": "1"}, user_meta={"team": "voice"}),),
        inbound=(inbound_pb("office"),),
        rules=(rule_pb("support", trunk_ids=("ST_in1",)),),
    )
    plan = plan_of(cfg, state)
    assert plan.changes == []
    assert plan.summary() == "No changes. LiveKit matches the configuration."


def test_create_lists_the_fields_it_sets() -> None:
    cfg = config(
        outbound={"acme": out_model(transport="udp", auth={"username": "u", "password": "p"})}
    )
    plan = plan_of(cfg, live())
    [c] = plan.changes
    assert (c.action, c.kind, c.name, c.id, c.method) == (
        "create",
        "outbound_trunk",
        "acme",
        None,
        "create",
    )
    fields = {f.path: f.new for f in c.fields}
    assert fields == {
        "address": "sip.example.com",
        "transport": "udp",
        "numbers": ["+15550100001"],
        "auth.username": "u",
        "auth.password": "(sensitive value)",
    }
    assert plan.summary() == "Plan: 1 to create, 0 to update, 0 to delete."


def test_update_is_field_level_and_keeps_the_id() -> None:
    cfg = config(
        outbound={
            "acme": out_model(address="b.example.com", numbers=["+15550100001", "+15550100002"])
        }
    )
    state = live(outbound=(outbound_pb("acme", "ST_keep", address="a.example.com"),))
    [c] = plan_of(cfg, state).changes
    assert (c.action, c.id, c.method) == ("update", "ST_keep", "update")
    assert [(f.path, f.old, f.new) for f in c.fields] == [
        ("address", "a.example.com", "b.example.com"),
        ("numbers", ["+15550100001"], ["+15550100001", "+15550100002"]),
    ]


def test_number_order_is_not_a_change() -> None:
    cfg = config(outbound={"acme": out_model(numbers=["+15550100002", "+15550100001"])})
    state = live(outbound=(outbound_pb("acme", numbers=("+15550100001", "+15550100002")),))
    assert plan_of(cfg, state).changes == []


def test_header_change_is_per_key_and_needs_replace() -> None:
    cfg = config(outbound={"acme": out_model(headers={"X-A": "2", "X-New": "n"})})
    state = live(outbound=(outbound_pb("acme", headers={"X-A": "1", "X-Old": "o"}),))
    [c] = plan_of(cfg, state).changes
    assert c.method == "replace"
    assert sorted((f.path, f.old, f.new) for f in c.fields) == [
        ("headers.X-A", "1", "2"),
        ("headers.X-New", None, "n"),
        ("headers.X-Old", "o", None),
    ]


def test_destination_country_needs_replace() -> None:
    cfg = config(outbound={"acme": out_model(destination_country="US")})
    state = live(outbound=(outbound_pb("acme"),))
    [c] = plan_of(cfg, state).changes
    assert c.method == "replace"
    assert [(f.path, f.old, f.new) for f in c.fields] == [("destination_country", "", "US")]


def test_empty_media_and_disabled_encryption_equal_absent() -> None:
    cfg = config(outbound={"acme": out_model(media={"encryption": "disable"})})
    empty_media = outbound_pb("acme", media=pb.SIPMediaConfig())
    assert plan_of(cfg, live(outbound=(empty_media,))).changes == []
    assert plan_of(cfg, live(outbound=(outbound_pb("acme"),))).changes == []


def test_deprecated_media_encryption_reads_as_media_encryption() -> None:
    cfg = config(outbound={"acme": out_model(media={"encryption": "require"})})
    legacy = outbound_pb("acme", media_encryption=pb.SIP_MEDIA_ENCRYPT_REQUIRE)
    assert plan_of(cfg, live(outbound=(legacy,))).changes == []


def test_media_change_shows_the_subfield() -> None:
    cfg = config(
        outbound={"acme": out_model(media={"encryption": "require", "codecs": ["PCMU/8000"]})}
    )
    [c] = plan_of(cfg, live(outbound=(outbound_pb("acme"),))).changes
    assert c.method == "update"
    assert sorted((f.path, f.old, f.new) for f in c.fields) == [
        ("media.codecs", [], [{"name": "PCMU", "rate": 8000}]),
        ("media.encryption", "disable", "require"),
    ]


def test_metadata_keys_beside_the_marker() -> None:
    cfg = config(outbound={"acme": out_model(metadata={"team": "voice", "tier": "gold"})})
    state = live(outbound=(outbound_pb("acme", user_meta={"team": "voice"}),))
    [c] = plan_of(cfg, state).changes
    assert [(f.path, f.old, f.new) for f in c.fields] == [("metadata.tier", None, "gold")]
    assert c.method == "update"


def test_rule_trunks_compare_by_name_and_rule_kind_change() -> None:
    cfg = config(
        inbound={"a": in_model(numbers=["+15550200001"]), "b": in_model(numbers=["+15550200002"])},
        rules={"r": rule_model(trunks=["b"])},
    )
    state = live(
        inbound=(inbound_pb("a", "ST_a"), inbound_pb("b", "ST_b", numbers=("+15550200002",))),
        rules=(rule_pb("r", trunk_ids=("ST_a",)),),
    )
    [c] = plan_of(cfg, state).changes
    assert (c.kind, c.method) == ("dispatch_rule", "update")
    assert [(f.path, f.old, f.new) for f in c.fields] == [("trunks", ["a"], ["b"])]


def test_rule_kind_change_shows_both_kinds() -> None:
    callee = config(
        rules={"r": DispatchRule.model_validate({"rule": {"callee": {"room_prefix": "c-"}}})}
    )
    [c] = plan_of(callee, live(rules=(rule_pb("r"),))).changes
    assert c.method == "update"
    assert sorted((f.path, f.old, f.new) for f in c.fields) == [
        ("rule.callee", None, {"pin": "", "randomize": False, "room_prefix": "c-"}),
        ("rule.direct", {"pin": "", "room_name": "support"}, None),
    ]


def test_inbound_list_emptied_needs_replace() -> None:
    cfg = config(inbound={"office": in_model(numbers=[], allowed_addresses=["10.0.0.0/8"])})
    state = live(inbound=(inbound_pb("office", allowed_addresses=["10.0.0.0/8"]),))
    [c] = plan_of(cfg, state).changes
    assert c.method == "replace"  # an empty ListUpdate is refused by LiveKit


def test_unmanaged_are_listed_and_never_changed() -> None:
    cfg = config(outbound={"acme": out_model()})
    state = live(
        outbound=(
            outbound_pb("acme", "ST_1"),
            outbound_pb("hand-made", "ST_2", managed=False, address="other.example.com"),
        )
    )
    plan = plan_of(cfg, state, allow_delete=True)
    assert plan.changes == []
    assert [(r.name, r.id) for r in plan.unmanaged] == [("hand-made", "ST_2")]


def test_orphaned_are_kept_unless_deletes_are_allowed() -> None:
    state = live(outbound=(outbound_pb("gone", "ST_9"),))
    plan = plan_of(config(), state)
    assert plan.changes == []
    assert [(r.name, r.id) for r in plan.orphaned] == [("gone", "ST_9")]
    # an orphan is drift: counted on the last line (#12 item 7)
    assert plan.summary() == "Plan: 0 to create, 0 to update, 0 to delete, 1 orphaned."
    assert plan.drifted and not plan.has_changes

    plan = plan_of(config(), state, allow_delete=True)
    assert [(c.action, c.id) for c in plan.changes] == [("delete", "ST_9")]
    assert plan.orphaned == []
    assert plan.summary() == "Plan: 0 to create, 0 to update, 1 to delete."

    pruned = plan_of(config(settings={"prune": True}), state)
    assert [c.action for c in pruned.changes] == ["delete"]


def test_adopt_unmarked_resource_with_the_declared_name() -> None:
    cfg = config(outbound={"acme": out_model()})
    state = live(outbound=(outbound_pb("acme", "ST_x", managed=False),))
    plan = plan_of(cfg, state)
    [c] = plan.changes
    assert (c.action, c.id, c.fields, c.method) == ("adopt", "ST_x", [], "update")
    assert plan.summary() == "Plan: 0 to create, 1 to update, 0 to delete."
    assert plan.unmanaged == []


def test_two_unmarked_with_the_declared_name_are_ambiguous() -> None:
    cfg = config(outbound={"acme": out_model()})
    state = live(
        outbound=(
            outbound_pb("acme", "ST_x", managed=False),
            outbound_pb("acme", "ST_y", managed=False),
        )
    )
    with pytest.raises(LiveKitError, match=r"ST_x, ST_y"):
        plan_of(cfg, state)


def test_duplicate_managed_names_are_refused_naming_both_ids() -> None:
    state = live(outbound=(outbound_pb("acme", "ST_a1"), outbound_pb("acme", "ST_b2")))
    with pytest.raises(LiveKitError) as err:
        plan_of(config(outbound={"acme": out_model()}), state)
    assert "ST_a1" in str(err.value) and "ST_b2" in str(err.value)
    assert "nothing can be applied" in str(err.value)


def test_an_answer_that_does_not_fit_names_the_resource() -> None:
    bad = outbound_pb("acme", "ST_bad")
    bad.transport = 99  # type: ignore[assignment]
    with pytest.raises(
        LiveKitError, match=r"outbound trunk 'acme' \(ST_bad\).*unknown transport value 99"
    ):
        plan_of(config(), live(outbound=(bad,)))
    missing = outbound_pb("", "")
    with pytest.raises(LiveKitError, match="no sip_trunk_id"):
        plan_of(config(), live(outbound=(missing,)))
    empty_rule = pb.SIPDispatchRuleInfo(sip_dispatch_rule_id="SDR_e", name="r")
    with pytest.raises(LiveKitError, match=r"dispatch rule 'r' \(SDR_e\).*no rule"):
        plan_of(config(), live(rules=(empty_rule,)))


def test_targets_limit_the_plan() -> None:
    cfg = config(outbound={"a": out_model(address="new.example.com"), "b": out_model()})
    state = live(outbound=(outbound_pb("a", "ST_a"), outbound_pb("z", "ST_z")))
    plan = plan_of(cfg, state, targets=["b"])
    assert [(c.action, c.name) for c in plan.changes] == [("create", "b")]
    assert plan.orphaned == []
    plan = plan_of(cfg, state, targets=["outbound_trunks.a", "z"], allow_delete=True)
    assert [(c.action, c.name) for c in plan.changes] == [("update", "a"), ("delete", "z")]
    with pytest.raises(SipctlError, match="--target nope"):
        plan_of(cfg, state, targets=["nope"])


def test_rule_naming_a_trunk_outside_the_targets_is_refused() -> None:
    cfg = config(inbound={"office": in_model()}, rules={"r": rule_model(trunks=["office"])})
    with pytest.raises(SipctlError, match="add --target office"):
        plan_of(cfg, live(), targets=["r"])
    plan = plan_of(cfg, live(), targets=["r", "office"])
    assert [(c.kind, c.action) for c in plan.changes] == [
        ("inbound_trunk", "create"),
        ("dispatch_rule", "create"),
    ]


def test_the_marker_key_is_reserved_in_metadata() -> None:
    cfg = config(outbound={"acme": out_model(metadata={"sipctl": "mine"})})
    with pytest.raises(SipctlError, match="metadata key 'sipctl' is reserved"):
        plan_of(cfg, live())


def test_adopting_plain_text_metadata_shows_what_is_replaced() -> None:
    cfg = config(outbound={"acme": out_model(metadata={"team": "voice"})})
    trunk = outbound_pb("acme", managed=False)
    trunk.metadata = "legacy text"
    (change,) = plan_of(cfg, live(outbound=(trunk,))).changes
    assert change.action == "adopt"
    assert [(f.path, f.old, f.new) for f in change.fields] == [
        ("metadata", "legacy text", {"team": "voice"})
    ]
