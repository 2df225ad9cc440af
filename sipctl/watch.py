"""``check --watch``: each test call on its own schedule until stopped.

Each call runs on its :class:`~sipctl.schedule.Schedule` (cron or ``every 30s``), never two
runs of one call at once, with a small random jitter and ``settings.max_calls_per_hour``
as a cap; a call is reported failing only after ``settings.failure_threshold``
consecutive failures. :func:`run_watch` wires it to the dial runner, the signals and the
HTTP endpoint (``--serve``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sipctl.aio import wait_all
from sipctl.dial import CallLimiter, DialRunner, error_result
from sipctl.drift import DriftMonitor
from sipctl.errors import SipctlError
from sipctl.livekit.client import ConnectionLike
from sipctl.models import Settings, TestCall
from sipctl.results import (
    CallStats,
    DialResult,
    Reason,
    RunPoint,
    WatchEvent,
    WatchEventKind,
    WatchStatus,
    outcome,
)
from sipctl.schedule import HOUR, Schedule
from sipctl.serve import Page, serve
from sipctl.signals import on_signals

log = logging.getLogger(__name__)

# runs kept per call for the status page: a day of 4-minute runs, 6 hours of 1-minute ones
HISTORY = 360

DialOne = Callable[[str, TestCall], Awaitable[DialResult]]


class HourlyBudget:
    """At most ``cap`` dial attempts in any sliding hour (PSTN calls cost money)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._entries: list[list[float]] = []  # [time, attempts]

    def used(self, now: float) -> float:
        self._entries = [e for e in self._entries if e[0] > now - HOUR]
        return sum(e[1] for e in self._entries)

    def take(self, now: float, n: int) -> list[float] | None:
        """Reserve ``n`` attempts; the entry returned can be corrected later. None: over."""
        if self.used(now) + n > self.cap:
            return None
        entry = [now, float(n)]
        self._entries.append(entry)
        return entry


@dataclass
class CallState:
    """One watched call: its schedule, whether it runs, and its record so far."""

    name: str
    call: TestCall
    schedule: Schedule
    next_run: float = 0.0  # with jitter
    base_run: float = 0.0  # without jitter: the schedule's own time
    running: bool = False
    runs: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    skipped_overlap: int = 0
    skipped_budget: int = 0
    last: DialResult | None = None
    failing: bool = False  # reported failing: consecutive failures reached the threshold
    outcomes: Counter[str] = field(default_factory=Counter)
    history: deque[RunPoint] = field(default_factory=lambda: deque(maxlen=HISTORY))


@dataclass
class Watcher:
    """Runs each scheduled call on its schedule until :meth:`stop`.

    ``dial_one`` places one call (``run_calls`` for one pair, sharing one limiter);
    ``on_event`` hears each result and each skipped run. ``clock``/``rng`` are injectable
    so the scheduling math is tested without waiting.
    """

    calls: Sequence[tuple[str, TestCall]]
    settings: Settings
    dial_one: DialOne
    on_event: Callable[[WatchEvent], None] | None = None
    clock: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)
    states: dict[str, CallState] = field(default_factory=dict)
    unscheduled: list[str] = field(default_factory=list)
    started_at: float = 0.0
    drift: DriftMonitor | None = None

    def __post_init__(self) -> None:
        self.budget = HourlyBudget(self.settings.max_calls_per_hour)
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        # budget entries of running calls, corrected to the attempts really dialled
        self._reservations: dict[str, list[float]] = {}
        for name, call in self.calls:
            if call.schedule:
                self.states[name] = CallState(name, call, Schedule(call.schedule))
            else:
                self.unscheduled.append(name)

    def jitter(self) -> float:
        return self.rng.uniform(0, self.settings.jitter) if self.settings.jitter > 0 else 0.0

    def plan_first(self, now: float) -> None:
        for st in self.states.values():
            st.base_run = st.schedule.first(now)
            st.next_run = st.base_run + self.jitter()

    def due(self, now: float) -> list[CallState]:
        return [st for st in self.states.values() if st.next_run <= now]

    def advance(self, st: CallState, now: float) -> None:
        """Plan the next run; runs missed while asleep are skipped, not caught up."""
        st.base_run = st.schedule.next_after(max(st.base_run, now))
        st.next_run = st.base_run + self.jitter()

    def tick(self, now: float) -> list[CallState]:
        """Decide what starts now; returns the states to start (marked running)."""
        start = []
        for st in self.due(now):
            self.advance(st, now)
            if st.running:
                st.skipped_overlap += 1
                self._emit(self._event(st, "skipped", reason="the previous run is still going"))
                continue
            entry = self.budget.take(now, 1 + st.call.retries)
            if entry is None:
                st.skipped_budget += 1
                cap = self.settings.max_calls_per_hour
                self._emit(
                    self._event(st, "skipped", reason=f"over settings.max_calls_per_hour ({cap})")
                )
                continue
            st.running = True
            start.append(st)
            self._reservations[st.name] = entry
        return start

    def record(self, st: CallState, result: DialResult) -> WatchEvent:
        """Count a finished run and apply the failure threshold."""
        st.running = False
        entry = self._reservations.pop(st.name, None)
        if entry is not None:
            entry[1] = float(max(result.attempts, 0))  # what it really dialled
        st.runs += 1
        st.last = result
        st.outcomes[outcome(result)] += 1
        st.history.append(
            RunPoint(
                result.started_at,
                result.verdict,
                result.reason,
                result.post_dial_delay,
                result.time_to_answer,
            )
        )
        was_failing = st.failing
        if result.ok:
            st.consecutive_failures = 0
            st.failing = False
        else:
            st.failures += 1
            st.consecutive_failures += 1
            st.failing = st.consecutive_failures >= self.settings.failure_threshold
        event = self._event(
            st,
            "result",
            result=result,
            became_failing=st.failing and not was_failing,
            recovered=was_failing and not st.failing,
        )
        self._emit(event)
        return event

    def _event(
        self,
        st: CallState,
        kind: WatchEventKind,
        *,
        result: DialResult | None = None,
        reason: str = "",
        became_failing: bool = False,
        recovered: bool = False,
    ) -> WatchEvent:
        return WatchEvent(
            kind,
            st.name,
            result,
            reason,
            became_failing,
            recovered,
            st.consecutive_failures,
            st.failing,
            self.settings.failure_threshold,
        )

    def status(self) -> WatchStatus:
        """A plain snapshot for the exporter and the status page."""
        return WatchStatus(
            calls=[
                CallStats(
                    name=st.name,
                    trunk=st.call.trunk,
                    schedule=st.schedule.text,
                    runs=st.runs,
                    failures=st.failures,
                    consecutive_failures=st.consecutive_failures,
                    skipped_overlap=st.skipped_overlap,
                    skipped_budget=st.skipped_budget,
                    failing=st.failing,
                    next_run=st.next_run,
                    last=st.last,
                    outcomes=dict(st.outcomes),
                    history=list(st.history),
                )
                for st in self.states.values()
            ],
            dials_last_hour=self.budget.used(self.clock()),
            max_calls_per_hour=self.budget.cap,
            started_at=self.started_at,
            stopping=self.stopping,
            drift=None if self.drift is None else self.drift.status(),
            unscheduled=list(self.unscheduled),
        )

    def _emit(self, event: WatchEvent) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.debug("watch event callback failed", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def _run_one(self, st: CallState) -> None:
        try:
            result = await self.dial_one(st.name, st.call)
        except asyncio.CancelledError:
            st.running = False
            raise
        except Exception as exc:  # never let one call stop the watch
            log.debug("watch run of %s crashed", st.name, exc_info=True)
            result = error_result(
                st.name, st.call, f"internal error ({exc})", reason=Reason.INTERNAL
            )
        self.record(st, result)

    def _start(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        """Until :meth:`stop`: start due calls, sleep until the next; then cancel running
        calls (they hang up and delete their rooms) and return."""
        self.started_at = self.clock()
        self.plan_first(self.started_at)
        if self.drift is not None:
            self.drift.plan_first(self.started_at)
        try:
            while not self._stop.is_set():
                now = self.clock()
                for st in self.tick(now):
                    self._start(self._run_one(st), f"watch {st.name}")
                if self.drift is not None and self.drift.due(now):
                    self._start(self.drift.run_once(now), "drift")
                upcoming = [st.next_run for st in self.states.values()]
                if self.drift is not None:
                    upcoming.append(self.drift.next_run)
                nxt = min(upcoming, default=now + 60)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.01, min(nxt - now, 60)))
        finally:
            tasks = list(self._tasks)
            for t in tasks:
                t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await wait_all(tasks)


StatusPage = Callable[[WatchStatus], tuple[bytes, str]]  # body, content type


def run_watch(
    conn: ConnectionLike,
    calls: Sequence[tuple[str, TestCall]],
    settings: Settings,
    parallelism: int,
    *,
    on_event: Callable[[WatchEvent], None],
    on_ready: Callable[[WatchStatus, list[str]], None] | None = None,
    listen: tuple[str, int] | None = None,
    pages: Mapping[str, StatusPage] | None = None,
    drift: DriftMonitor | None = None,
) -> None:
    """Watch ``calls`` until SIGINT/SIGTERM. With ``listen``, serve ``pages`` (each renders
    a :class:`WatchStatus`) and ``/healthz`` there meanwhile; ``on_ready`` hears the
    watched calls and those without a schedule once serving. Calls in flight hang up on
    the way out. ``drift``: re-plan on its schedule too."""
    limiter = CallLimiter(parallelism, settings.max_calls_per_trunk)
    runner = DialRunner.using(settings, conn, limiter)

    async def dial_one(name: str, call: TestCall) -> DialResult:
        return (await runner.run([(name, call)]))[0]

    watcher = Watcher(calls, settings, dial_one, on_event=on_event, drift=drift)
    if not watcher.states and drift is None:
        raise SipctlError(
            "--watch: none of the selected test calls has a schedule (add schedule: to "
            "them, or settings.drift_schedule to watch for drift only)"
        )

    def healthz() -> tuple[int, bytes, str]:
        if watcher.stopping:
            return 503, b"stopping\n", "text/plain; charset=utf-8"
        return 200, b"ok\n", "text/plain; charset=utf-8"

    def page(render: StatusPage) -> Page:
        return lambda: (200, *render(watcher.status()))

    async def main() -> None:
        with on_signals(watcher.stop):
            site = None
            if listen is not None:
                routes = {path: page(r) for path, r in (pages or {}).items()}
                site = await serve(*listen, {**routes, "/healthz": healthz})
            try:
                if on_ready is not None:
                    on_ready(watcher.status(), watcher.unscheduled)
                await watcher.run()
            finally:
                if site is not None:
                    await site.cleanup()

    # stopping is what a signal asks for: calls were hung up on the way out
    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(main())
