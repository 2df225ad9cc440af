"""Select, shard, schedule and run test calls: the engine of ``sipctl check``.

- :func:`select_calls`: by names, ``--tag`` and ``--trunk``;
- :func:`shard_calls`: ``--shard K/N``, a stable split by a hash of the call name, so N
  machines (CronJob pods, a CI matrix) run disjoint parts whatever order they list them in;
- :func:`exit_code`: 3 when any call failed, else 1 when any was an error, else 0;
- :class:`Watcher`: ``--watch``, each call on its own schedule (cron or ``every 30s``), never
  two runs of one call at once, a small random jitter, ``max_calls_per_hour`` as a cap,
  and a call reported failing only after ``failure_threshold`` consecutive failures;
- :func:`serve_metrics`: ``--serve HOST:PORT`` with ``/metrics`` and ``/healthz``.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import hashlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sipctl.dial import DialResult, Verdict
from sipctl.errors import SipctlError
from sipctl.exitcodes import ExitCode
from sipctl.schedule import HOUR, Schedule

if TYPE_CHECKING:
    from aiohttp import web

    from sipctl.models import Settings, TestCall

log = logging.getLogger(__name__)

T_ = TypeVar("T_")


class SelectionError(SipctlError):
    """The command line names a test call, tag or shard that does not fit the config."""


# --- selection ----------------------------------------------------------------------------


def select_calls(
    test_calls: Mapping[str, TestCall],
    names: Sequence[str] = (),
    tags: Sequence[str] = (),
    trunks: Sequence[str] = (),
) -> list[tuple[str, TestCall]]:
    """The calls to run, in config order. Names, tags and trunks narrow down together;
    several of one kind widen (``--tag a --tag b``: either tag)."""
    unknown = [n for n in names if n not in test_calls]
    if unknown:
        hints = []
        for n in unknown:
            close = difflib.get_close_matches(n, list(test_calls), n=1)
            hints.append(f"{n!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise SelectionError(f"no test call named {', '.join(hints)} in the config")
    wanted_names, wanted_tags, wanted_trunks = set(names), set(tags), set(trunks)
    out = []
    for name, call in test_calls.items():
        if wanted_names and name not in wanted_names:
            continue
        if wanted_tags and not wanted_tags.intersection(call.tags):
            continue
        if wanted_trunks and call.trunk not in wanted_trunks:
            continue
        out.append((name, call))
    return out


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` with 1 <= K <= N."""
    k_text, sep, n_text = text.partition("/")
    if not sep or not k_text.strip().isdigit() or not n_text.strip().isdigit():
        raise SelectionError(f"--shard must look like K/N, e.g. 1/3 (got {text!r})")
    k, n = int(k_text), int(n_text)
    if n < 1 or not 1 <= k <= n:
        raise SelectionError(f"--shard K/N needs 1 <= K <= N (got {text!r})")
    return k, n


def shard_of(name: str, n: int) -> int:
    """The shard (1..n) a call belongs to: stable across machines, runs and orderings."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big") % n + 1


def shard_calls(calls: Iterable[tuple[str, T_]], k: int, n: int) -> list[tuple[str, T_]]:
    return [(name, c) for name, c in calls if shard_of(name, n) == k]


def exit_code(results: Iterable[DialResult]) -> ExitCode:
    """3 when any call failed; otherwise 1 when any was an error; otherwise 0."""
    verdicts = {r.verdict for r in results}
    if Verdict.FAIL in verdicts:
        return ExitCode.FAILED
    if Verdict.ERROR in verdicts:
        return ExitCode.ERROR
    return ExitCode.OK


# --- the hourly cap -----------------------------------------------------------------------


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


@dataclass
class WatchEvent:
    kind: str  # "result" | "skipped"
    state: CallState
    result: DialResult | None = None
    reason: str = ""
    became_failing: bool = False
    recovered: bool = False


DialOne = Callable[[str, "TestCall"], Awaitable[DialResult]]


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
                self._emit(WatchEvent("skipped", st, reason="the previous run is still going"))
                continue
            entry = self.budget.take(now, 1 + st.call.retries)
            if entry is None:
                st.skipped_budget += 1
                self._emit(
                    WatchEvent(
                        "skipped",
                        st,
                        reason=f"over settings.max_calls_per_hour "
                        f"({self.settings.max_calls_per_hour})",
                    )
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
        was_failing = st.failing
        if result.ok:
            st.consecutive_failures = 0
            st.failing = False
        else:
            st.failures += 1
            st.consecutive_failures += 1
            st.failing = st.consecutive_failures >= self.settings.failure_threshold
        event = WatchEvent(
            "result",
            st,
            result,
            became_failing=st.failing and not was_failing,
            recovered=was_failing and not st.failing,
        )
        self._emit(event)
        return event

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
            from sipctl.dial import error_result

            log.debug("watch run of %s crashed", st.name, exc_info=True)
            result = error_result(st.name, st.call, f"internal error ({exc})")
        self.record(st, result)

    async def run(self) -> None:
        """Until :meth:`stop`: start due calls, sleep until the next; then cancel running
        calls (they hang up and delete their rooms) and return."""
        from sipctl.aio import wait_all

        self.started_at = self.clock()
        self.plan_first(self.started_at)
        try:
            while not self._stop.is_set():
                now = self.clock()
                for st in self.tick(now):
                    task = asyncio.create_task(self._run_one(st), name=f"watch {st.name}")
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                nxt = min((st.next_run for st in self.states.values()), default=now + 60)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.01, min(nxt - now, 60)))
        finally:
            tasks = list(self._tasks)
            for t in tasks:
                t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await wait_all(tasks)


# --- /metrics and /healthz ----------------------------------------------------------------


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise SelectionError(f"--serve must be HOST:PORT, e.g. 127.0.0.1:9464 (got {text!r})")
    return host.strip("[]") or "0.0.0.0", int(port)


async def serve_metrics(
    watcher: Watcher, host: str, port: int, *, extra: Mapping[str, Any] | None = None
) -> web.AppRunner:
    """Start the HTTP endpoint; the caller cleans up the returned runner."""
    from aiohttp import web

    from sipctl.render.check_prometheus import watch_exposition

    async def metrics(_: web.Request) -> web.Response:
        body, content_type = watch_exposition(watcher)
        resp = web.Response(body=body)
        resp.headers["Content-Type"] = content_type
        return resp

    async def healthz(_: web.Request) -> web.Response:
        if watcher.stopping:
            return web.Response(status=503, text="stopping\n")
        return web.Response(text="ok\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise SipctlError(f"cannot listen on {host}:{port} for --serve: {exc.strerror}") from None
    return runner
