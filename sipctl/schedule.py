"""When a test call (or a drift re-plan) runs: one schedule type for config and --watch.

A schedule is a 5-field cron expression (local time, as cron has it) or ``every <duration>``
(``every 30s``, ``every 10m``). The config validates with :meth:`Schedule.parse`, the
loader finds the busiest hour with :func:`busiest_hour`, and ``--watch`` plans
runs with :meth:`Schedule.first` and :meth:`Schedule.next_after`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sipctl.durations import parse_duration

if TYPE_CHECKING:
    from croniter import croniter

HOUR = 3600.0
EVERY = "every "
# A Monday: runs per hour are counted over one week from it (cron fields by weekday).
_WEEK_START = datetime(2026, 1, 5)
_MAX_RUNS_COUNTED = 7 * 24 * 60 + 1  # every minute for a week, and one more


class Schedule:
    """A parsed schedule; ``ValueError`` (with a message for the config) when invalid."""

    def __init__(self, text: str) -> None:
        self.text = text.strip()
        self.interval: float | None = None
        if self.text.startswith(EVERY):
            self.interval = parse_duration(self.text[len(EVERY) :])
            if self.interval < 1:
                raise ValueError("an interval must be at least 1s")
            return
        if len(self.text.split()) != 5:
            raise ValueError(f"must be a 5-field cron expression or 'every 30s' (got {text!r})")
        if not _croniter().is_valid(self.text):
            raise ValueError(f"is not a valid cron expression (got {text!r})")

    @classmethod
    def parse(cls, text: str) -> str:
        """The normalised text of a valid schedule (a pydantic validator's shape)."""
        return cls(text).text

    def __repr__(self) -> str:
        return f"Schedule({self.text!r})"

    def first(self, now: float) -> float:
        """When the first run is due: at once for intervals, the next cron time else."""
        return now if self.interval is not None else self.next_after(now)

    def next_after(self, t: float) -> float:
        """The first run time strictly after ``t`` (epoch seconds)."""
        if self.interval is not None:
            return t + self.interval
        start = datetime.fromtimestamp(t).astimezone()
        nxt = _croniter()(self.text, start).get_next(datetime)
        return float(nxt.timestamp())

    def runs_per_hour(self) -> float:
        """The average rate over a week (cron fields may name weekdays or hours)."""
        minutes = self.week_minutes()
        if minutes is None:
            assert self.interval is not None
            return HOUR / self.interval
        return len(minutes) / (7 * 24)

    def week_minutes(self) -> list[int] | None:
        """The minutes of the week (from a Monday 00:00) a cron schedule runs at, sorted;
        None for an interval (its rate is the same in every hour)."""
        if self.interval is not None:
            return None
        # from just before the start: get_next is strictly after it
        it = _croniter()(self.text, _WEEK_START - timedelta(seconds=1))
        out: list[int] = []
        while len(out) < _MAX_RUNS_COUNTED:
            t = it.get_next(datetime)
            if t >= _WEEK_START + timedelta(days=7):
                break
            out.append(int((t - _WEEK_START).total_seconds() // 60))
        return out


_WEEK = 7 * 24 * 60  # minutes


def busiest_hour(calls: Mapping[str, tuple[Schedule, int]]) -> tuple[float, str]:
    """The most dials the schedules make in any 60 minutes of a week (what --watch's hourly
    cap meets), and the call that makes the most of them: ``calls`` maps a name to its
    schedule and dials per run (1 + retries). A cron schedule counts where it runs (``* 9
    * * *`` dials 60 times in one hour, not 2.5 an hour on average); an interval the same
    in every hour."""
    steady = {n: HOUR / s.interval * w for n, (s, w) in calls.items() if s.interval is not None}
    timed = {n: (m, w) for n, (s, w) in calls.items() if (m := s.week_minutes()) is not None}
    # the start of the window with the most timed runs (wrapping around the week)
    events = sorted((m, w) for minutes, w in timed.values() for m in minutes)
    best, best_start, total, j = 0.0, 0, 0.0, 0
    doubled = events + [(m + _WEEK, w) for m, w in events]
    for i, (start, _) in enumerate(events):
        while j < len(doubled) and doubled[j][0] < start + 60:
            total += doubled[j][1]
            j += 1
        if total > best:
            best, best_start = total, start
        total -= events[i][1]
    share = dict(steady)
    for name, (minutes, w) in timed.items():
        end = best_start + 60
        inside = bisect_left(minutes, end) - bisect_left(minutes, best_start)
        wrapped = bisect_left(minutes, end - _WEEK) if end > _WEEK else 0
        share[name] = (inside + wrapped) * w
    busiest = max(share, key=lambda n: share[n])
    return sum(steady.values()) + best, busiest


def _croniter() -> type[croniter]:
    # deferred: importing croniter takes ~20 ms, as long as the whole CLI; only cron
    # schedules need it
    from croniter import croniter

    return croniter
