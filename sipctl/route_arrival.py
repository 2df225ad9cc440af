"""Inbound test calls (``arrive:``): place one, judge where it came back in.

A call with ``arrive`` goes out through its outbound trunk to a number routed back to
LiveKit; it passes when it arrives through the declared inbound trunk and dispatch rule,
into a room as that rule names it, within ``arrive.within``. Otherwise it fails with
reason ``misrouted`` (naming the trunk and rule it took) or ``not_arrived`` (saying what
``sipctl route`` predicts from the live trunks and rules).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time

from sipctl.live import LiveState
from sipctl.livekit.arrivals import ArrivalRecord, place_and_watch, read_routing
from sipctl.livekit.calls import ProbeSpec
from sipctl.livekit.client import ConnectionLike, Session
from sipctl.models import DispatchRule, TestCall
from sipctl.results import DialResult, Reason, Verdict, expect_text
from sipctl.route import RANDOM, Call, room_name, route, rule_agents
from sipctl.route_sources import with_live

log = logging.getLogger(__name__)


def _secs(t: float) -> str:
    return f"{t:.1f}s"


def room_fits(pattern: str, room: str) -> bool:
    """``room`` is a room the rule could have named (``<random>`` is LiveKit's suffix)."""
    regex = re.escape(pattern).replace(re.escape(RANDOM), r"[A-Za-z0-9_-]+")
    return re.fullmatch(regex, room) is not None


def _names(state: LiveState) -> dict[str, str]:
    return {
        r.id: r.name or r.id for kind in ("inbound_trunk", "dispatch_rule") for r in state.all[kind]
    }


def _rule(state: LiveState, name: str) -> DispatchRule | None:
    for r in state.all["dispatch_rule"]:
        if r.name == name and isinstance(r.model, DispatchRule):
            return r.model
    return None


def predict(call: TestCall, state: LiveState) -> str:
    """What ``sipctl route`` says LiveKit's live trunks and rules do with this call."""
    trunks, rules, _ = with_live([], [], state)
    d = route(Call(to=call.to, from_=call.from_ or ""), trunks, rules)
    where = []
    if d.trunk is not None:
        where.append(f"inbound trunk {d.trunk.name}")
    if d.rule is not None:
        where.append(f"dispatch rule {d.rule.name}")
    return d.detail + (f" ({', '.join(where)})" if where else "")


def _expected(trunk: str, rule: str, call: TestCall) -> str:
    assert call.arrive is not None
    want = call.arrive
    parts = []
    if trunk != want.inbound_trunk:
        parts.append(f"inbound trunk {want.inbound_trunk}")
    if rule != want.dispatch_rule:
        parts.append(f"dispatch rule {want.dispatch_rule}")
    return " and ".join(parts) + " as declared"


def judge_arrival(
    call: TestCall, record: ArrivalRecord, state: LiveState
) -> tuple[Verdict, Reason | None, str]:
    """The verdict, its reason (None for pass) and the cause line."""
    assert call.arrive is not None
    want = call.arrive
    err = record.error
    if err is not None:
        # an unusable answer says so itself; it is no refusal (the call may have been placed)
        refused = err.kind != "malformed"
        cause = f"LiveKit refused the call: {err.message}" if refused else err.message
        return Verdict.ERROR, Reason.LIVEKIT, cause
    if record.room is None or record.arrived_at is None:
        if not record.looked:
            # never saw the rooms: whether it arrived is unknown, not "no"
            why = (
                f"every listing of LiveKit's rooms failed ({record.look_error})"
                if record.look_error
                else f"the {_secs(want.within)} window ended before LiveKit's rooms were listed"
            )
            return Verdict.ERROR, Reason.LIVEKIT, f"could not see whether it arrived: {why}"
        return (
            Verdict.FAIL,
            Reason.NOT_ARRIVED,
            f"did not arrive within {_secs(want.within)}; sipctl route says: "
            + predict(call, state),
        )
    names = _names(state)
    trunk = names.get(record.attributes.get("sip.trunkID", ""), "(unknown trunk)")
    rule = names.get(record.attributes.get("sip.ruleID", ""), "(unknown rule)")
    took = f"inbound trunk {trunk} and dispatch rule {rule}"
    if (trunk, rule) != (want.inbound_trunk, want.dispatch_rule):
        return (
            Verdict.FAIL,
            Reason.MISROUTED,
            f"arrived through {took}, not " + _expected(trunk, rule, call),
        )
    model = _rule(state, rule)
    agents: list[str] = []
    if model is not None:
        agents = rule_agents(model)
        pattern = room_name(model, Call(to=call.to, from_=call.from_ or ""))
        if not room_fits(pattern, record.room):
            return (
                Verdict.FAIL,
                Reason.MISROUTED,
                f"arrived through {took}, but in room {record.room}, not as the rule names "
                f"it ({pattern})",
            )
    cause = f"arrived in {_secs(record.arrived_at)} through {took}, in room {record.room}"
    if agents and record.dispatched is not None:
        missing = [a for a in agents if a not in record.dispatched]
        if missing:
            return (
                Verdict.FAIL,
                Reason.MISROUTED,
                f"{cause}, but agent {', '.join(missing)} of the rule's room_config was not "
                "dispatched to it",
            )
        cause += f", agents {', '.join(agents)} dispatched"
    elif agents:
        # a pass says the rule's agents were dispatched: unseen, it cannot be given
        return (
            Verdict.ERROR,
            Reason.LIVEKIT,
            f"{cause}, but its agent dispatches could not be read "
            f"({record.dispatch_error or 'no answer'}): whether {', '.join(agents)} "
            "was dispatched is unknown",
        )
    return Verdict.PASS, None, cause


async def dial_arrival(
    api: Session, conn: ConnectionLike, name: str, call: TestCall, spec: ProbeSpec
) -> DialResult:
    """Place an ``arrive`` call (1 + ``call.retries`` attempts) and judge it."""
    assert call.arrive is not None
    t0, started = time.monotonic(), time.time()
    result: DialResult | None = None
    for attempt in range(1, call.retries + 2):
        attempt_spec = dataclasses.replace(
            spec, attributes={**spec.attributes, "sipctl.attempt": str(attempt)}
        )
        record = await place_and_watch(
            api, conn, attempt_spec, caller=call.from_ or "", within=call.arrive.within
        )
        try:
            state = await read_routing(api, conn)
        except Exception as exc:  # naming what it took is a nicety; the verdict stands
            log.debug("reading the inbound trunks and rules failed: %s", exc)
            state = LiveState()
        verdict, reason, cause = judge_arrival(call, record, state)
        if record.cleanup_error is not None:
            cause += f" (and the probe {record.cleanup_error})"
            if verdict.ok:
                verdict, reason = Verdict.ERROR, Reason.LIVEKIT
        result = DialResult(
            name=name,
            trunk=call.trunk,
            to=call.to,
            expect=expect_text(call),
            verdict=verdict,
            cause=cause,
            reason=reason,
            duration=time.monotonic() - t0,
            attempts=attempt,
            trunk_id=spec.trunk_id,
            room=record.room,
            error_code=(record.error.code or None) if record.error else None,
            started_at=started,
            cleaned_up=record.cleanup_error is None,
        )
        if verdict.ok:
            break
    assert result is not None
    return result
