"""The log lines of ``sipctl check --watch``: one per run, and state changes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import click

from sipctl.errors import SipctlError
from sipctl.render import check_prometheus, check_status
from sipctl.render.check_outputs import Output, write_files
from sipctl.render.check_text import line
from sipctl.results import DialResult, DriftStatus, WatchEvent, WatchStatus


def stamp() -> str:
    return datetime.now().astimezone().strftime("%Y-%m-%dT%H:%M:%S%z")


def event_lines(ev: WatchEvent, *, color: bool = False) -> tuple[list[str], list[str]]:
    """(stdout lines, stderr lines) for one watch event, time-stamped."""
    if ev.kind == "skipped" or ev.result is None:
        return [], [f"{stamp()} skipped {ev.name}: {ev.reason}"]
    out = [f"{stamp()} {line(ev.result, color=color)}"]
    n = ev.consecutive_failures
    if ev.became_failing:
        out.append(f"{stamp()} FAILING  {ev.name}: {n} failed run{'s' if n != 1 else ''} in a row")
    elif ev.recovered:
        out.append(f"{stamp()} RECOVERED {ev.name}")
    elif not ev.result.ok and not ev.failing:
        out.append(
            f"{stamp()} {ev.name}: failure {n} of {ev.failure_threshold} before it is "
            "reported failing"
        )
    return out, []


def drift_line(status: DriftStatus) -> str:
    if status.last_error is not None:
        return f"DRIFT    re-plan failed: {status.last_error}"
    if not status.total:
        return "DRIFT    none: LiveKit matches the configuration"
    parts = [f"{n} {action} {kind}" for (kind, action), n in sorted(status.changes.items()) if n]
    return f"DRIFT    {status.total} change{'s' if status.total != 1 else ''} to apply: " + (
        ", ".join(parts) + " (run `sipctl plan` to see them)"
    )


def watching(calls: Sequence[tuple[str, str]], unscheduled: Sequence[str]) -> list[str]:
    """The start-up lines: what is watched (name, schedule) and what is skipped."""
    lines = []
    if unscheduled:
        lines.append(f"skipped (no schedule): {', '.join(unscheduled)}")
    n = len(calls)
    lines.append(
        f"watching {n} test call{'s' if n != 1 else ''}: "
        + ", ".join(f"{name} ({schedule})" for name, schedule in calls)
    )
    return lines


@dataclass
class WatchConsole:
    """Prints what ``--watch`` does and keeps the ``--output`` files at the latest results."""

    files: Sequence[Output]
    color: bool = False
    listen: tuple[str, int] | None = None
    latest: dict[str, DialResult] = field(default_factory=dict)
    _order: list[str] = field(default_factory=list)

    def ready(self, status: WatchStatus, unscheduled: Sequence[str]) -> None:
        self._order = [c.name for c in status.calls]
        for text in watching([(c.name, c.schedule) for c in status.calls], unscheduled):
            click.echo(text, err=True)
        if self.listen is not None:
            host, port = self.listen
            click.echo(
                f"serving the status page on http://{host}:{port}/ (/api/status, /metrics, "
                "/healthz)",
                err=True,
            )

    def drift(self, status: DriftStatus) -> None:
        """A re-plan found other changes than the last one (or failed, or recovered)."""
        click.echo(f"{stamp()} {drift_line(status)}")

    def __call__(self, ev: WatchEvent) -> None:
        out, err = event_lines(ev, color=self.color)
        for text in err:
            click.echo(text, err=True)
        for text in out:
            click.echo(text)
        if ev.result is None or not self.files:
            return
        self.latest[ev.name] = ev.result
        results = [self.latest[n] for n in self._order if n in self.latest]
        try:
            write_files(self.files, results, None)
        except SipctlError as exc:
            click.echo(f"warning: {exc}", err=True)


# What ``--serve`` answers besides /healthz: each page renders a WatchStatus.
PAGES: dict[str, Callable[[WatchStatus], tuple[bytes, str]]] = {
    "/": check_status.html_page,
    "/api/status": check_status.json_page,
    "/metrics": check_prometheus.watch_exposition,
}
