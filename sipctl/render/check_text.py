"""Test-call results as plain text: one line per call, then a summary line."""

from __future__ import annotations

from collections.abc import Sequence

import click

from sipctl.results import DialResult, Verdict

LABELS: dict[Verdict, str] = {
    Verdict.PASS: "PASS",
    Verdict.DEGRADED: "DEGRADED",
    Verdict.FAIL: "FAIL",
    Verdict.ERROR: "ERROR",
}
COLORS: dict[Verdict, str] = {
    Verdict.PASS: "green",
    Verdict.DEGRADED: "yellow",
    Verdict.FAIL: "red",
    Verdict.ERROR: "magenta",
}


def _label(verdict: Verdict, color: bool) -> str:
    text = f"{LABELS[verdict]:<8}"
    if not color:
        return text
    return click.style(text, fg=COLORS[verdict], bold=verdict is not Verdict.PASS)


def line(r: DialResult, *, color: bool = False) -> str:
    """``PASS     answer-us: answered in 0.4s (trunk twilio-us, to +15550100001, took 2.4s)``."""
    details = [f"trunk {r.trunk}", f"to {r.to}"]
    if r.reason is not None:
        details.insert(0, f"reason {r.reason}")
    if r.post_dial_delay is not None and "ringing since" not in r.cause:
        details.append(f"ringing at {r.post_dial_delay:.2f}s")
    details.append(f"took {r.duration:.2f}s")
    if r.attempts > 1:
        details.append(f"{r.attempts} attempts")
    return f"{_label(r.verdict, color)} {r.name}: {r.cause} ({', '.join(details)})"


def summary(results: Sequence[DialResult], elapsed: float | None = None) -> str:
    """``4 test calls: 2 passed, 1 degraded, 1 failed, 0 errors in 3.2s``."""
    n = len(results)
    count = {v: sum(1 for r in results if r.verdict is v) for v in Verdict}
    errors = count[Verdict.ERROR]
    text = (
        f"{n} test call{'s' if n != 1 else ''}: {count[Verdict.PASS]} passed, "
        f"{count[Verdict.DEGRADED]} degraded, {count[Verdict.FAIL]} failed, "
        f"{errors} error{'s' if errors != 1 else ''}"
    )
    if elapsed is not None:
        text += f" in {elapsed:.1f}s"
    return text


def render(
    results: Sequence[DialResult], *, elapsed: float | None = None, color: bool = False
) -> str:
    lines = [line(r, color=color) for r in results]
    lines.append(summary(results, elapsed))
    return "\n".join(lines) + "\n"


def degraded_warning(results: Sequence[DialResult]) -> str | None:
    """A warning line naming the calls that answered late, or None."""
    degraded = [r.name for r in results if r.verdict is Verdict.DEGRADED]
    if not degraded:
        return None
    n = len(degraded)
    return (
        f"warning: {n} test call{'s' if n != 1 else ''} answered late (degraded, still "
        f"passing): {', '.join(degraded)}"
    )
