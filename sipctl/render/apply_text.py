"""An apply report as text: one line per change, the verification dials, a summary.

  applied        + create outbound_trunk acme-us (ST_3kq8GfNz2wXy) 0.05s
  failed         ~ update inbound_trunk office (ST_Hy7c2LmPq9Ab): updating ...: LiveKit
                   answered invalid_argument: ...
  not attempted  + create dispatch_rule office-rule: waits for ..., which did not apply

Apply failed: 1 applied, 1 failed, 1 not attempted.
"""

from __future__ import annotations

from typing import Any

import click

from sipctl.apply_result import ApplyReport, Outcome
from sipctl.render.check_text import line
from sipctl.render.plan_text import SYMBOL

STATUS_COLOR = {"applied": "green", "failed": "red", "not attempted": "yellow"}


def _style(text: str, color: bool, **kw: Any) -> str:
    return click.style(text, **kw) if color else text


def outcome_line(o: Outcome, *, color: bool = False) -> str:
    c = o.change
    rid = o.id or c.id
    ident = f" ({rid})" if rid else ""
    text = f"{SYMBOL[c.action]} {c.action} {c.kind} {c.name}{ident}"
    if o.status == "applied":
        text += f" {o.seconds:.2f}s"
    elif o.error:
        text += f": {o.error}"
    return f"{_style(f'{o.status:<14}', color, fg=STATUS_COLOR[o.status])} {text}"


def summary(report: ApplyReport) -> str:
    counts = (
        f"{report.count('applied')} applied, {report.count('failed')} failed, "
        f"{report.count('not attempted')} not attempted"
    )
    if report.interrupted:
        return f"Apply interrupted: {counts}."
    if report.ok:
        return f"Apply complete: {counts}."
    return f"Apply failed: {counts}."


def render(report: ApplyReport, *, color: bool = False) -> str:
    out = [outcome_line(o, color=color) for o in report.outcomes]
    out.append("")
    out.append(_style(summary(report), color, bold=True))
    for w in report.warnings:
        out.append(_style(f"Warning: {w}", color, fg="yellow"))
    if report.verification or report.verification_interrupted:
        out.append("")
        out.append("Verification dials:")
        out += ["  " + line(r, color=color) for r in report.verification]
        passed = sum(1 for r in report.verification if r.ok)
        failed = len(report.verification) - passed
        out.append(f"Verification: {passed} passed, {failed} failed.")
        if report.verification_interrupted:
            out.append("Verification dials interrupted (Ctrl-C).")
    if report.verification_skipped and not report.verification_interrupted:
        out.append(f"Verification dials skipped: {report.verification_skipped}.")
    return "\n".join(out) + "\n"
