"""Scheduling math of --watch: schedules, jitter, overlap, the hourly cap, the threshold."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

import pytest

from sipctl.models import Settings, TestCall
from sipctl.results import DialResult, Verdict
from sipctl.schedule import Schedule
from sipctl.watch import HourlyBudget, Watcher


def tc(schedule: str | None, retries: int = 0) -> TestCall:
    return TestCall.model_validate(
        {"trunk": "a", "to": "+15550100001", "schedule": schedule, "retries": retries}
    )


def test_interval_runs_at_once_then_every_n_seconds() -> None:
    s = Schedule("every 30s")
    assert s.first(1000.0) == 1000.0
    assert s.next_after(1000.0) == 1030.0
    assert s.runs_per_hour() == 120


def test_cron_next_times() -> None:
    s = Schedule("*/15 * * * *")
    t = datetime(2026, 1, 5, 10, 7, 30).astimezone().timestamp()
    nxt = datetime.fromtimestamp(s.next_after(t))
    assert (nxt.hour, nxt.minute, nxt.second) == (10, 15, 0)
    assert s.first(t) == s.next_after(t)
    assert s.runs_per_hour() == pytest.approx(4)


def test_bad_schedules() -> None:
    with pytest.raises(ValueError):
        Schedule("every day")
    with pytest.raises(ValueError):
        Schedule("61 * * * *")


def test_hourly_budget_slides() -> None:
    b = HourlyBudget(3)
    assert b.take(0, 2) is not None
    assert b.take(10, 2) is None  # 2 + 2 > 3
    entry = b.take(10, 1)
    assert entry is not None
    assert b.take(20, 1) is None
    entry[1] = 0  # the run dialled less than reserved
    assert b.take(20, 1) is not None
    assert b.take(3601, 2) is not None  # the first entry left the window


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


async def never(name: str, call: TestCall) -> DialResult:
    raise AssertionError("not dialled in these tests")


def watcher(calls: dict[str, TestCall], **settings: Any) -> tuple[Watcher, Clock]:
    clock = Clock()
    w = Watcher(
        list(calls.items()),
        Settings.model_validate({"jitter": 0, **settings}),
        never,
        clock=clock,
        rng=random.Random(1),
    )
    w.plan_first(clock())
    return w, clock


def res(verdict: Verdict, attempts: int = 1) -> DialResult:
    return DialResult(
        name="x",
        trunk="a",
        to="+1",
        expect="answered",
        verdict=verdict,
        cause="",
        attempts=attempts,
    )


def test_unscheduled_calls_are_listed_apart() -> None:
    w, _ = watcher({"a": tc("every 10s"), "b": tc(None)})
    assert list(w.states) == ["a"]
    assert w.unscheduled == ["b"]


def test_no_overlapping_runs_of_one_call() -> None:
    w, clock = watcher({"a": tc("every 10s")})
    assert [s.name for s in w.tick(clock())] == ["a"]
    clock.t += 10
    assert w.tick(clock()) == []  # still running: skipped
    assert w.states["a"].skipped_overlap == 1
    w.record(w.states["a"], res(Verdict.PASS))
    clock.t += 10
    assert [s.name for s in w.tick(clock())] == ["a"]


def test_missed_runs_are_skipped_not_caught_up() -> None:
    w, clock = watcher({"a": tc("every 10s")})
    w.tick(clock())
    w.record(w.states["a"], res(Verdict.PASS))
    clock.t += 95
    assert len(w.tick(clock())) == 1
    assert w.states["a"].next_run == clock.t + 10


def test_jitter_delays_within_the_setting() -> None:
    clock = Clock()
    w = Watcher([("a", tc("every 10s"))], Settings(jitter=2.0), never, clock=clock)
    w.plan_first(clock())
    delays = []
    for _ in range(50):
        st = w.states["a"]
        w.advance(st, st.base_run)
        delays.append(st.next_run - st.base_run)
    assert all(0 <= d <= 2.0 for d in delays)
    assert len(set(delays)) > 1


def test_max_calls_per_hour_caps_runs() -> None:
    w, clock = watcher(
        {"a": tc("every 60s", retries=1), "b": tc("every 60s")}, max_calls_per_hour=4
    )
    started = 0
    for _ in range(10):
        for st in w.tick(clock()):
            started += 1
            w.record(st, res(Verdict.PASS, attempts=1))
        clock.t += 60
    # a reserves 2 (1 + retries) but used 1: reservations are corrected
    assert started == 4
    assert w.states["a"].skipped_budget + w.states["b"].skipped_budget == 16


def test_failure_threshold_damps_flapping() -> None:
    w, _ = watcher({"a": tc("every 10s")}, failure_threshold=3)
    st = w.states["a"]
    events = []
    for v in [Verdict.FAIL, Verdict.ERROR, Verdict.PASS, Verdict.FAIL, Verdict.FAIL]:
        st.running = True
        events.append(w.record(st, res(v)))
    assert not st.failing
    assert st.consecutive_failures == 2
    st.running = True
    ev = w.record(st, res(Verdict.FAIL))
    assert ev.became_failing and st.failing
    st.running = True
    ev = w.record(st, res(Verdict.DEGRADED))
    assert ev.recovered and not st.failing
    assert st.runs == 7 and st.failures == 5
    assert not any(e.became_failing for e in events)
