"""A plan as text, Terraform-like: one block per change, then the summary line.

    + create outbound_trunk acme-us
        address: sip.acme.example
        auth.password: (sensitive value)
    ~ update outbound_trunk acme-eu (ST_3kq8GfNz2wXy)
        numbers: [+15550100001] -> [+15550100001, +15550100002]
    - delete inbound_trunk office (ST_Hy7c2LmPq9Ab)

    Plan: 1 to create, 1 to update, 1 to delete.

Colour only when asked (the CLI asks on a TTY without NO_COLOR).
"""

from __future__ import annotations

import json
import re
from typing import Any

import click

from sipctl.durations import format_duration
from sipctl.plan_result import Change, FieldChange, Plan
from sipctl.secrets import MASK

SYMBOL = {"create": "+", "update": "~", "delete": "-", "adopt": "~", "rename": "~"}
COLOR = {
    "create": "green",
    "update": "yellow",
    "delete": "red",
    "adopt": "cyan",
    "rename": "yellow",
}
_PLAIN = re.compile(r"^[^\s\"'\[\]{},#][^\"\[\]{},]*(?<!\s)$")
_DURATIONS = ("ringing_timeout", "max_call_duration", "media.media_timeout")


def value(v: Any, path: str = "") -> str:
    """A field value the way a reader scans it: bare strings, flow lists and maps."""
    if v is None:
        return "(none)"
    if v == MASK:
        return MASK
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float) and path.endswith(_DURATIONS):
        return format_duration(float(v))
    if isinstance(v, int | float):
        return f"{v:g}"
    if isinstance(v, str):
        return v if _PLAIN.match(v) and " -> " not in v else json.dumps(v)
    if isinstance(v, list):
        if path == "media.codecs":
            return "[" + ", ".join(f"{c['name']}/{c['rate']}" for c in v) + "]"
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{value(k)}: {value(x)}" for k, x in v.items()) + "}"
    return str(v)


def field_line(f: FieldChange, create: bool) -> str:
    old = MASK if f.sensitive and f.old is not None else value(f.old, f.path)
    new = MASK if f.sensitive and f.new is not None else value(f.new, f.path)
    if create:
        return f"{f.path}: {new}"
    return f"{f.path}: {old} -> {new}"


def header(c: Change) -> str:
    ident = f" ({c.id})" if c.id else ""
    if c.renamed_from is not None:
        return f"~ rename {c.kind} {c.renamed_from} -> {c.name}{ident}"
    return f"{SYMBOL[c.action]} {c.action} {c.kind} {c.name}{ident}"


def change_lines(c: Change) -> list[str]:
    lines = []
    if c.action == "adopt" and not c.fields:
        lines.append("(no field changes: sipctl records its ownership marker)")
    for f in c.fields:
        lines.append(field_line(f, c.action == "create"))
    if c.method == "replace":
        lines.append("(sent as replace: LiveKit's update cannot change all of these fields)")
    if c.note:
        lines.append(f"({c.note})")
    return lines


def _style(text: str, color: bool, **kw: Any) -> str:
    return click.style(text, **kw) if color else text


def render(plan: Plan, *, color: bool = False) -> str:
    out: list[str] = []
    if plan.changes:
        out.append("sipctl will perform these actions:")
        out.append("")
        for c in plan.changes:
            out.append("  " + _style(header(c), color, fg=COLOR[c.action], bold=True))
            for line in change_lines(c):
                out.append("      " + line)
            out.append("")
    if plan.unmanaged:
        out.append("Unmanaged (no sipctl marker; never changed or deleted):")
        for r in plan.unmanaged:
            out.append(f"  {r.kind} {r.name or '(no name)'} ({r.id})")
        out.append("")
    if plan.orphaned:
        out.append(
            "Orphaned (managed by sipctl, no longer in the config; kept: use "
            "--allow-delete or settings.prune to delete):"
        )
        for r in plan.orphaned:
            out.append(f"  {r.kind} {r.name} ({r.id})")
        out.append("")
    if plan.other_owners:
        out.append(
            "Other owners (never changed or deleted by this config; take one over with "
            "--take-ownership NAME):"
        )
        for r in plan.other_owners:
            owner = r.marker.owner if r.marker is not None else None
            out.append(f"  {r.kind} {r.name} ({r.id}) owner {owner}")
        out.append("")
    if plan.unowned:
        out.append(
            "Unowned (managed by sipctl without an owner, not in this config; never deleted by it):"
        )
        for r in plan.unowned:
            out.append(f"  {r.kind} {r.name} ({r.id})")
        out.append("")
    for w in plan.warnings:
        out.append(_style(f"Warning: {w}", color, fg="yellow"))
    for p in plan.safety.problems():
        out.append(_style(f"Warning: apply would refuse this plan: {p}", color, fg="yellow"))
    if plan.warnings or plan.safety.problems():
        out.append("")
    out.append(_style(plan.summary(), color, bold=True))
    return "\n".join(out) + "\n"
