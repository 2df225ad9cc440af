"""Execute a :class:`~sipctl.plan.Plan`: in a safe order, concurrently, with a report.

Order (as LiveKit checks inbound-trunk and dispatch-rule conflicts on every write):

1. a change that gives up a number or a rule key another change takes runs first;
2. trunks before the dispatch rules that reference them (a new trunk's ID is needed);
3. deletes that free nothing run last, dispatch rules before trunks.

At most ``parallelism`` changes are in flight. Transient failures are retried with
backoff (a create looks its name up before retrying). A change whose prerequisite did not
apply is *not attempted*. Ctrl-C stops starting new changes and waits for those in flight.
After a complete apply, the test calls whose trunk was created or changed are dialed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sipctl.aio import wait_all
from sipctl.apply_result import ApplyReport, Outcome
from sipctl.dial import run_calls
from sipctl.diff import inconsistencies
from sipctl.errors import ConnectionFailed, SipctlError
from sipctl.fields import describe
from sipctl.ledger import ledger_writes
from sipctl.live import LiveState
from sipctl.livekit import adapter
from sipctl.livekit.adapter import UNCERTAIN
from sipctl.livekit.client import connect
from sipctl.livekit.connection import Connection
from sipctl.livekit.state import read_one
from sipctl.models import DispatchRule, Settings, TestCall
from sipctl.plan_result import Change, Plan
from sipctl.results import DialEvent, DialResult
from sipctl.server_rules import conflict_keys
from sipctl.signals import on_signals, stop_then_cancel

log = logging.getLogger(__name__)

# --- ordering --------------------------------------------------------------------------


@dataclass
class Deps:
    hard: set[str] = field(default_factory=set)  # must have applied first
    soft: set[str] = field(default_factory=set)  # must have finished first (any outcome)


def dependencies(changes: Sequence[Change]) -> tuple[dict[str, Deps], list[str]]:
    """Each change's prerequisites, and warnings (a cycle of moved numbers or keys)."""
    deps = {c.key: Deps() for c in changes}
    by_key = {c.key: c for c in changes}
    creates = {c.name: c.key for c in changes if c.kind == "inbound_trunk" and c.action == "create"}
    for c in changes:
        if c.kind == "dispatch_rule" and c.action != "delete":
            assert isinstance(c.desired, DispatchRule)
            deps[c.key].hard |= {creates[t] for t in c.desired.trunks if t in creates}
    conflict_edges: set[tuple[str, str]] = set()
    freeing: set[str] = set()
    for kind in ("inbound_trunk", "dispatch_rule"):
        freed: dict[tuple[str, ...], list[str]] = {}
        for c in changes:
            if c.kind != kind or c.live is None or c.live.model is None:
                continue
            new = set() if c.action == "delete" else conflict_keys(c.desired)
            for k in conflict_keys(c.live.model) - new:
                freed.setdefault(k, []).append(c.key)
        for c in changes:
            if c.kind != kind or c.action == "delete":
                continue
            old = conflict_keys(c.live.model if c.live else None)
            for k in conflict_keys(c.desired) - old:
                for other in freed.get(k, []):
                    if other != c.key:
                        deps[c.key].hard.add(other)
                        conflict_edges.add((c.key, other))
                        freeing.add(other)
    others = [c.key for c in changes if c.action != "delete"]
    rule_deletes = [
        c.key
        for c in changes
        if c.action == "delete" and c.kind == "dispatch_rule" and c.key not in freeing
    ]
    for c in changes:
        if c.action == "delete" and c.key not in freeing:
            deps[c.key].soft |= set(others)
            if c.kind != "dispatch_rule":
                deps[c.key].soft |= set(rule_deletes)
    warnings = _break_cycles(deps, conflict_edges, by_key)
    return deps, warnings


def _break_cycles(
    deps: dict[str, Deps], conflict_edges: set[tuple[str, str]], by_key: Mapping[str, Change]
) -> list[str]:
    """Numbers swapped between resources make a cycle: drop those edges (the server may
    then refuse one write, which the report shows) rather than wait forever."""
    remaining = set(deps)
    while remaining:
        ready = {k for k in remaining if not ((deps[k].hard | deps[k].soft) & remaining)}
        if ready:
            remaining -= ready
            continue
        stuck = sorted(remaining)
        for a, b in conflict_edges:
            if a in remaining and b in remaining:
                deps[a].hard.discard(b)
        names = ", ".join(by_key[k].label() for k in stuck)
        if not any(not ((deps[k].hard | deps[k].soft) & remaining) for k in remaining):
            # not a conflict cycle (should not happen): drop every edge among them
            for k in remaining:
                deps[k].hard -= remaining
                deps[k].soft -= remaining
        return [
            f"numbers or rule keys are swapped between {names}: LiveKit may refuse one of "
            "these writes; apply the swap in two steps if it does"
        ]
    return []


# --- running ---------------------------------------------------------------------------


def _known_trunk_ids(state: LiveState, plan: Plan | None = None) -> dict[str, str]:
    ids = {name: r.id for name, r in state.managed["inbound_trunk"].items()}
    for old, new in (plan.renames.get("inbound_trunk", {}) if plan else {}).items():
        if old in ids:
            ids[new] = ids[old]  # renamed in place: same ID
    for name, group in state.unmanaged["inbound_trunk"].items():
        if len(group) == 1 and name not in ids:
            ids[name] = group[0].id  # adopted by this plan (or referenced by name)
    return ids


async def run_changes(
    conn: Connection,
    plan: Plan,
    state: LiveState,
    *,
    parallelism: int,
    stop: asyncio.Event | None = None,
    outcomes: Sequence[Outcome] | None = None,
    warnings: list[str] | None = None,
    on_change: Callable[[str, Outcome], None] | None = None,
) -> list[Outcome]:
    """Apply every change of ``plan``; one :class:`Outcome` per change, in plan order.

    ``outcomes`` (one per change, in order) are filled in place, so a caller keeps them
    even when the run is cancelled. ``on_change("start" | "done", outcome)`` follows each
    change, for live progress.
    """
    stop = stop or asyncio.Event()
    changes = plan.changes
    deps, warnings = dependencies(changes)
    for w in warnings:
        log.warning("%s", w)
    given = list(outcomes) if outcomes is not None else [Outcome(c) for c in changes]
    by_key = {o.change.key: o for o in given}
    done = {c.key: asyncio.Event() for c in changes}
    sem = asyncio.Semaphore(max(1, parallelism))
    created: dict[str, str] = {}
    readback_warnings: list[str] = warnings if warnings is not None else []
    lost = asyncio.Event()

    def why_not() -> str:
        if lost.is_set():
            return "not started: LiveKit stopped answering during the apply"
        return "interrupted before it started"

    resolve = adapter.trunk_resolver(_known_trunk_ids(state, plan), created)

    async with connect(conn) as api:

        async def one(c: Change) -> None:
            out = by_key[c.key]
            try:
                d = deps[c.key]
                for k in d.hard | d.soft:
                    await done[k].wait()
                failed = [k for k in sorted(d.hard) if by_key[k].status != "applied"]
                if failed:
                    names = ", ".join(by_key[k].change.label() for k in failed)
                    out.error = f"waits for {names}, which did not apply"
                    return
                if stop.is_set() or lost.is_set():
                    out.error = why_not()
                    return
                async with sem:
                    if stop.is_set() or lost.is_set():
                        out.error = why_not()
                        return
                    t0 = time.monotonic()
                    if on_change is not None:
                        on_change("start", out)
                    try:
                        res = await adapter.execute(api, conn, c, resolve)
                    except asyncio.CancelledError:
                        out.status = "failed"
                        out.error = "interrupted in flight: it may or may not have applied"
                        raise
                    except SipctlError as exc:
                        out.status, out.error = "failed", str(exc)
                        if isinstance(exc, ConnectionFailed):
                            lost.set()  # LiveKit stopped answering: start nothing more
                    except Exception as exc:  # a bug must not stop the other changes
                        log.debug("change %s crashed", c.key, exc_info=True)
                        out.status = "failed"
                        out.error = f"internal error ({type(exc).__name__}: {exc})"
                    else:
                        out.id = res.id if res is not None else c.id
                        if c.kind == "inbound_trunk" and res is not None:
                            created[c.name] = res.id
                        problem = await _read_back(c, c.id if res is None else res.id)
                        out.status = "applied" if problem is None else "failed"
                        out.error = problem
                    finally:
                        out.seconds = time.monotonic() - t0
                        log.debug("%s: %s %s", c.key, out.status, out.error or "")
            finally:
                done[c.key].set()
                if on_change is not None:
                    on_change("done", out)

        async def _read_back(c: Change, rid: str | None) -> str | None:
            """Why the resource LiveKit holds now is not what the plan wrote, if it is not.
            A delete is read back too: an answer that is not LiveKit's (an empty body reads
            as a valid message) says nothing of it."""
            assert rid is not None
            deleted = c.method == "delete"  # adapter.execute answers None for it
            done = "deleted" if deleted else "written"
            names: dict[str, str] = {}
            if not deleted:  # a delete's answer needs no trunk names
                known = {**_known_trunk_ids(state), **_known_trunk_ids(state, plan), **created}
                names = {v: k for k, v in known.items()}
            try:
                back = await read_one(api, conn, c.kind, rid, names)
            except SipctlError as exc:
                return f"{done}, but it could not be read back to check it ({exc}); {UNCERTAIN}"
            if deleted:
                return None if back is None else "deleted, but LiveKit still lists it"
            if back is None:
                return "written, but LiveKit does not list it afterwards"
            problems = inconsistencies(c, back, readback_warnings)
            if not problems:
                return None
            return "LiveKit holds something else than planned: " + "; ".join(problems)

        tasks = [asyncio.create_task(one(c), name=c.key) for c in changes]
        await wait_all(tasks)
    return given


async def _record_rules(
    conn: Connection, plan: Plan, state: LiveState, report: ApplyReport
) -> list[str]:
    """Bring the rules ledgers on inbound trunks up to date (sipctl.ledger); warnings."""
    markers = {
        o.change.name: adapter.marker_for(o.change)
        for o in report.outcomes
        if o.change.kind == "inbound_trunk" and o.status == "applied" and o.change.desired
    }
    writes, warnings = ledger_writes(plan, state, report.outcomes, markers)
    if not writes:
        return warnings
    async with connect(conn) as api:
        for w in writes:
            try:
                await adapter.write_trunk_metadata(api, conn, w.trunk_id, w.label, w.metadata)
            except SipctlError as exc:
                warnings.append(f"{exc}: its dispatch rules show as adopt until the next apply")
    return warnings


# --- verification dials ----------------------------------------------------------------


def verification_calls(
    plan: Plan, outcomes: Iterable[Outcome], test_calls: Mapping[str, TestCall]
) -> tuple[list[tuple[str, TestCall]], list[str], dict[str, str]]:
    """The test calls to dial after an apply, warnings for changed trunks nobody dials,
    and the changed trunks' live IDs."""
    changed: dict[str, str] = {}
    for o in outcomes:
        c = o.change
        if c.kind != "outbound_trunk" or o.status != "applied" or o.id is None:
            continue
        if (
            c.action == "create"
            or c.action == "update"
            or (c.action in ("adopt", "rename") and c.fields)
        ):
            changed[c.name] = o.id
    calls = [
        (name, tc)
        for name, tc in sorted(test_calls.items())
        if tc.trunk in changed and tc.verify_on_apply
    ]
    dialed = {tc.trunk for _, tc in calls}
    undialed = [describe("outbound_trunk", name) for name in sorted(changed) if name not in dialed]
    warnings = []
    if len(undialed) == 1:
        warnings.append(
            f"{undialed[0]} changed but no test call verifies it on apply (add one to test_calls)"
        )
    elif undialed:
        shown = ", ".join(undialed[:5]) + (
            f" and {len(undialed) - 5} more" if len(undialed) > 5 else ""
        )
        warnings.append(
            f"{len(undialed)} changed outbound trunks have no test call that verifies them on "
            f"apply: {shown} (add them to test_calls)"
        )
    return calls, warnings, changed


async def verify(
    conn: Connection,
    calls: Sequence[tuple[str, TestCall]],
    trunk_ids: Mapping[str, str],
    *,
    parallelism: int,
    max_per_trunk: int,
    on_event: Callable[[DialEvent], None] | None = None,
) -> list[DialResult]:
    """Dial ``calls`` through the shared runner (the one ``sipctl check`` uses)."""
    return await run_calls(
        conn,
        calls,
        trunk_ids=dict(trunk_ids),
        parallelism=parallelism,
        max_per_trunk=max_per_trunk,
        on_event=on_event,
    )


async def apply_plan(
    conn: Connection,
    plan: Plan,
    state: LiveState,
    test_calls: Mapping[str, TestCall],
    settings: Settings,
    *,
    parallelism: int | None = None,
    run_verification: bool = True,
    on_dial_event: Callable[[DialEvent], None] | None = None,
    on_change: Callable[[str, Outcome], None] | None = None,
) -> ApplyReport:
    """Apply ``plan`` (Ctrl-C aware), then run the verification dials when it all applied.

    ``parallelism`` overrides ``settings.parallelism``."""
    stop = asyncio.Event()
    report = ApplyReport([Outcome(c) for c in plan.changes])

    def first() -> None:
        log.warning("interrupted: no new changes start; waiting for those in flight")

    with on_signals(stop_then_cancel(stop, asyncio.current_task(), first)):
        try:
            await run_changes(
                conn,
                plan,
                state,
                parallelism=parallelism or settings.parallelism,
                stop=stop,
                outcomes=report.outcomes,
                warnings=report.warnings,
                on_change=on_change,
            )
        except asyncio.CancelledError:
            report.interrupted = True
            return report
    report.interrupted = stop.is_set()
    report.warnings.extend(await _record_rules(conn, plan, state, report))
    calls, warnings, ids = verification_calls(plan, report.outcomes, test_calls)
    report.warnings.extend(warnings)
    if not report.ok:
        if calls:
            report.verification_skipped = "the apply did not complete"
        return report
    if not run_verification:
        if calls:
            report.verification_skipped = "--no-verify"
        return report
    if calls:
        try:
            task = asyncio.current_task()
            assert task is not None
            with on_signals(task.cancel):
                report.verification = await verify(
                    conn,
                    calls,
                    ids,
                    parallelism=settings.check_parallelism,
                    max_per_trunk=settings.max_calls_per_trunk,
                    on_event=on_dial_event,
                )
        except asyncio.CancelledError:
            # the dials hung up and cleaned up before the cancellation reached here
            report.verification_interrupted = True
            report.verification_skipped = "interrupted (Ctrl-C)"
    return report
