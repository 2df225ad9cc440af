"""The verdict on an inbound test call (``sipctl.route_arrival.judge_arrival``), offline."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sipctl.live import LiveResource, LiveState
from sipctl.livekit.arrivals import ArrivalRecord
from sipctl.livekit.records import LiveKitFailure
from sipctl.models import DispatchRule, InboundTrunk, RoomConfig, TestCall
from sipctl.ownership import Marker
from sipctl.results import Reason, Verdict
from sipctl.route_arrival import judge_arrival, room_fits

CALLER = "+15557770000"


def state() -> LiveState:
    s = LiveState()
    s.add(
        LiveResource(
            "inbound_trunk",
            "ST_main",
            "main-in",
            InboundTrunk(numbers=["+15550700001", "+15550700002"]),
            Marker(),
        )
    )
    rules: list[tuple[str, str, dict[str, Any]]] = [
        (
            "SDR_sales",
            "sales",
            {"numbers": ["+15550700001"], "rule": {"direct": {"room_name": "sales"}}},
        ),
        ("SDR_support", "support", {"rule": {"individual": {"room_prefix": "support"}}}),
    ]
    for rid, name, fields in rules:
        s.add(
            LiveResource(
                "dispatch_rule",
                rid,
                name,
                DispatchRule.model_validate({"trunks": ["main-in"], **fields}),
                Marker(),
                info=SimpleNamespace(trunk_ids=["ST_main"]),
            )
        )
    return s


def call(to: str = "+15550700001", rule: str = "sales") -> TestCall:
    return TestCall.model_validate(
        {
            "trunk": "lab",
            "to": to,
            "from": CALLER,
            "arrive": {"inbound_trunk": "main-in", "dispatch_rule": rule, "within": "5s"},
        }
    )


def arrived(room: str, rule: str = "SDR_sales", trunk: str = "ST_main") -> ArrivalRecord:
    return ArrivalRecord(
        "probe", arrived_at=0.4, room=room, attributes={"sip.trunkID": trunk, "sip.ruleID": rule}
    )


def test_pass() -> None:
    verdict, reason, cause = judge_arrival(call(), arrived("sales"), state())
    assert (verdict, reason) == (Verdict.PASS, None)
    assert (
        cause
        == "arrived in 0.4s through inbound trunk main-in and dispatch rule sales, in room sales"
    )


def test_pass_with_a_pattern_room() -> None:
    rec = arrived("support_+15557770000_a1B2c3D4e5F6", rule="SDR_support")
    assert judge_arrival(call("+15550700002", "support"), rec, state())[0] is Verdict.PASS


def test_misrouted_names_what_it_took() -> None:
    verdict, reason, cause = judge_arrival(call(rule="support"), arrived("sales"), state())
    assert (verdict, reason) == (Verdict.FAIL, Reason.MISROUTED)
    assert cause.endswith("dispatch rule sales, not dispatch rule support as declared")


def test_misrouted_when_the_room_is_not_the_rules() -> None:
    verdict, reason, cause = judge_arrival(call(), arrived("elsewhere"), state())
    assert (verdict, reason) == (Verdict.FAIL, Reason.MISROUTED)
    assert "in room elsewhere, not as the rule names it (sales)" in cause


def test_not_arrived_says_what_route_predicts() -> None:
    rec = ArrivalRecord("probe", looked=12)  # the rooms were seen, without it
    verdict, reason, cause = judge_arrival(call("+15550700009"), rec, state())
    assert (verdict, reason) == (Verdict.FAIL, Reason.NOT_ARRIVED)
    assert cause == (
        "did not arrive within 5.0s; sipctl route says: no dispatch rule matches: LiveKit "
        "drops the call without a final answer"
    )
    # a number the live rules do take: route names them (the provider lost it, then)
    cause = judge_arrival(call(), rec, state())[2]
    assert cause.endswith("(inbound trunk main-in, dispatch rule sales)")


def test_unseen_is_not_not_arrived() -> None:
    """Without one answered listing of the rooms, "did not arrive" would be a guess."""
    failed = ArrivalRecord("probe", look_error="listing the rooms: LiveKit unavailable")
    assert judge_arrival(call(), failed, state()) == (
        Verdict.ERROR,
        Reason.LIVEKIT,
        "could not see whether it arrived: every listing of LiveKit's rooms failed "
        "(listing the rooms: LiveKit unavailable)",
    )
    late = judge_arrival(call(), ArrivalRecord("probe"), state())
    assert late[:2] == (Verdict.ERROR, Reason.LIVEKIT)
    assert late[2].endswith("the 5.0s window ended before LiveKit's rooms were listed")


def test_refused_outbound_leg_is_an_error() -> None:
    rec = ArrivalRecord("probe", error=LiveKitFailure("livekit", "trunk not found", "not_found"))
    verdict, reason, _ = judge_arrival(call(), rec, state())
    assert (verdict, reason) == (Verdict.ERROR, Reason.LIVEKIT)


def test_room_fits() -> None:
    assert room_fits("support_+1555_<random>", "support_+1555_AbC123")
    assert not room_fits("support_+1555_<random>", "support_+1556_AbC123")
    assert room_fits("sales", "sales") and not room_fits("sales", "sales2")


def _with_agents(agents: list[str]) -> LiveState:
    s = state()
    sales = next(r for r in s.all["dispatch_rule"] if r.name == "sales")
    assert isinstance(sales.model, DispatchRule)
    config = {"agents": [{"agent_name": a} for a in agents]}
    sales.model = sales.model.model_copy(update={"room_config": RoomConfig.model_validate(config)})
    return s


def test_the_rules_agents_must_be_dispatched() -> None:
    rec = arrived("sales")
    rec.dispatched = ["sales-agent"]
    verdict, _, cause = judge_arrival(call(), rec, _with_agents(["sales-agent"]))
    assert verdict is Verdict.PASS and cause.endswith(", agents sales-agent dispatched")
    rec.dispatched = []
    verdict, reason, cause = judge_arrival(call(), rec, _with_agents(["sales-agent"]))
    assert (verdict, reason) == (Verdict.FAIL, Reason.MISROUTED)
    assert cause.endswith(
        "but agent sales-agent of the rule's room_config was not dispatched to it"
    )
