"""The status page of ``check --watch --serve``: ``GET /`` (HTML) and ``GET /api/status``.

Rendered on the server from a :class:`~sipctl.results.WatchStatus`: no JavaScript, no
external asset (the machines it runs on are often closed), and it reloads itself. One row
per configured test call: the last verdicts as a strip, the reason, post-dial delay and
answer time over the last hours as a small chart, the next run; then the drift state.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any

from sipctl.results import CallStats, DriftStatus, RunPoint, Verdict, WatchStatus

FORMAT_VERSION = 1
REFRESH_SECONDS = 15
CHART_HOURS = 6.0
STRIP_RUNS = 30
COLORS = {
    Verdict.PASS: "#2e7d32",
    Verdict.DEGRADED: "#f9a825",
    Verdict.FAIL: "#c62828",
    Verdict.ERROR: "#6a1b9a",
}
STYLE = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em;margin:0 0 .2em}
.meta{color:#555;margin-bottom:1em}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.45em .6em;border-bottom:1px solid #ddd;vertical-align:middle}
th{background:#f4f4f4;font-weight:600}
.verdict{font-weight:700;text-transform:uppercase}
.pass{color:#2e7d32}.degraded{color:#b8860b}.fail{color:#c62828}.error{color:#6a1b9a}
.none{color:#888}
.strip span{display:inline-block;width:9px;height:18px;margin-right:2px;border-radius:2px}
.cause{color:#444;font-size:.92em;max-width:38em}
.reason{font-family:ui-monospace,monospace}
.drift{margin-top:1.5em;padding:.7em 1em;border-radius:6px;background:#f4f4f4}
.drift.bad{background:#fdecea}
svg text{font:10px sans-serif;fill:#666}
"""


def _time(t: float | None) -> str:
    if not t:
        return "–"
    return datetime.fromtimestamp(t).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def _in(t: float, now: float) -> str:
    left = t - now
    if left <= 0:
        return "due now"
    if left < 120:
        return f"in {left:.0f} s"
    return f"in {left / 60:.0f} min"


def _strip(history: Sequence[RunPoint]) -> str:
    cells = []
    for p in history[-STRIP_RUNS:]:
        title = f"{_time(p.started_at)}: {p.verdict}" + (f" ({p.reason})" if p.reason else "")
        cells.append(
            f'<span style="background:{COLORS[p.verdict]}" title="{escape(title)}"></span>'
        )
    return f'<div class="strip" aria-label="last verdicts, oldest first">{"".join(cells)}</div>'


def _span(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def _chart(history: Sequence[RunPoint], now: float) -> str:
    """Post-dial delay (blue) and time to answer (green) over the last hours, as SVG."""
    width, height, pad = 220, 48, 12
    points = [p for p in history if p.started_at >= now - CHART_HOURS * 3600]
    # the last CHART_HOURS, or since the first run kept when the watch is younger
    start = min((p.started_at for p in points), default=now)
    values = [v for p in points for v in (p.post_dial_delay, p.time_to_answer) if v is not None]
    top = max(values, default=1.0) or 1.0

    def line(attr: str, color: str) -> str:
        xy = []
        for p in points:
            v = getattr(p, attr)
            if v is None:
                continue
            x = (p.started_at - start) / (now - start) * width if now > start else width
            y = height - pad - (v / top) * (height - 2 * pad)
            xy.append(f"{x:.1f},{y:.1f}")
        if not xy:
            return ""
        return (
            f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{" ".join(xy)}"/>'
        )

    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="post-dial delay and answer time, last {CHART_HOURS:g} h">'
        f'<rect width="{width}" height="{height}" fill="#fafafa"/>'
        + line("post_dial_delay", "#1565c0")
        + line("time_to_answer", "#2e7d32")
        + f'<text x="2" y="10">{top:.2f} s</text><text x="2" y="{height - 2}">'
        f"{_span(now - start)}</text></svg>"
    )


def _row(c: CallStats, now: float) -> str:
    last = c.last
    verdict = str(last.verdict) if last else "none"
    label = verdict if last else "not run yet"
    reason = str(last.reason) if last and last.reason else ""
    cause = last.cause if last else ""
    pdd = f"{last.post_dial_delay:.2f} s" if last and last.post_dial_delay is not None else "–"
    tta = f"{last.time_to_answer:.2f} s" if last and last.time_to_answer is not None else "–"
    failing = " (failing)" if c.failing else ""
    # audio checks: the share with the expected audio, and the echo's round trip
    if last is not None and last.audio_active_ratio is not None:
        tta += f"<br>audio {last.audio_active_ratio:.0%}"
    if last is not None and last.audio_echo_delay is not None:
        tta += f"<br>echo {last.audio_echo_delay * 1000:.0f} ms"
    return (
        f'<tr data-call="{escape(c.name)}"><td><strong>{escape(c.name)}</strong><br>'
        f"<small>trunk {escape(c.trunk)}</small></td>"
        f'<td class="verdict {verdict}">{escape(label)}{failing}</td>'
        f"<td>{_strip(c.history)}</td>"
        f'<td class="reason">{escape(reason)}</td>'
        f'<td class="cause">{escape(cause)}</td>'
        f"<td>{pdd}<br>{tta}</td><td>{_chart(c.history, now)}</td>"
        f"<td>{escape(c.schedule)}<br><small>{_in(c.next_run, now)}</small></td></tr>"
    )


def _drift(drift: DriftStatus | None) -> str:
    if drift is None:
        return '<div class="drift">Drift: not watched (set settings.drift_schedule).</div>'
    if drift.last_success is None and drift.last_error is None:
        text, bad = "not checked yet", False
    elif drift.last_error is not None:
        text, bad = f"the last re-plan failed: {drift.last_error}", True
    elif drift.total:
        parts = ", ".join(
            f"{n} {action} {kind}" for (kind, action), n in sorted(drift.changes.items()) if n
        )
        text, bad = f"{drift.total} change(s) to apply: {parts} (run sipctl plan)", True
    else:
        text, bad = "none: LiveKit matches the configuration", False
    return (
        f'<div class="drift{" bad" if bad else ""}" id="drift">Drift: {escape(text)}'
        f"<br><small>checked {escape(drift.schedule)}, last success "
        f"{_time(drift.last_success)}</small></div>"
    )


def html(status: WatchStatus, now: float | None = None) -> str:
    now = time.time() if now is None else now
    rows = [_row(c, now) for c in status.calls]
    rows += [
        f'<tr data-call="{escape(name)}"><td><strong>{escape(name)}</strong></td>'
        '<td class="verdict none">not watched</td><td colspan="6">no schedule: run it '
        "with <code>sipctl check</code></td></tr>"
        for name in status.unscheduled
    ]
    failing = sum(1 for c in status.calls if c.failing)
    title = f"sipctl: {failing} failing" if failing else "sipctl: all passing"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{STYLE}</style></head>
<body><h1>{escape(title)}</h1>
<div class="meta">Updated {_time(now)} · watching since {_time(status.started_at)} ·
{status.dials_last_hour:.0f} of {status.max_calls_per_hour} dials in the last hour ·
<a href="/api/status">JSON</a> · <a href="/metrics">metrics</a></div>
<table><thead><tr><th>Test call</th><th>Verdict</th><th>Last runs</th><th>Reason</th>
<th>Cause</th><th>PDD<br>answer</th><th>Last {CHART_HOURS:g} h</th><th>Next run</th></tr>
</thead><tbody>
{"".join(rows)}
</tbody></table>
{_drift(status.drift)}
</body></html>
"""


def document(status: WatchStatus, now: float | None = None) -> dict[str, Any]:
    """What the page shows, as data (``format_version`` 1)."""
    drift = status.drift
    return {
        "format_version": FORMAT_VERSION,
        "generated_at": time.time() if now is None else now,
        "started_at": status.started_at,
        "stopping": status.stopping,
        "dials_last_hour": status.dials_last_hour,
        "max_calls_per_hour": status.max_calls_per_hour,
        "calls": [
            {
                "name": c.name,
                "trunk": c.trunk,
                "schedule": c.schedule,
                "next_run": c.next_run,
                "runs": c.runs,
                "failures": c.failures,
                "consecutive_failures": c.consecutive_failures,
                "failing": c.failing,
                "last": None if c.last is None else c.last.to_dict(),
                "history": [
                    {
                        "started_at": p.started_at,
                        "verdict": str(p.verdict),
                        "reason": None if p.reason is None else str(p.reason),
                        "post_dial_delay": p.post_dial_delay,
                        "time_to_answer": p.time_to_answer,
                    }
                    for p in c.history
                ],
            }
            for c in status.calls
        ],
        "unscheduled": list(status.unscheduled),
        "drift": None
        if drift is None
        else {
            "schedule": drift.schedule,
            "runs": drift.runs,
            "failures": drift.failures,
            "total": drift.total,
            "changes": [
                {"kind": k, "action": a, "count": n} for (k, a), n in sorted(drift.changes.items())
            ],
            "last_success": drift.last_success,
            "last_error": drift.last_error,
            "next_run": drift.next_run,
        },
    }


def html_page(status: WatchStatus) -> tuple[bytes, str]:
    return html(status).encode(), "text/html; charset=utf-8"


def json_page(status: WatchStatus) -> tuple[bytes, str]:
    return (json.dumps(document(status), indent=2) + "\n").encode(), "application/json"
