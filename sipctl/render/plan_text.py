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
# Control characters (newlines included) and Unicode line separators: a value with one is
# quoted and escaped, so that each field stays on one line and nothing can be forged.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# A list change with more elements than this is shown element by element.
LONG_LIST = 4
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
        plain = _PLAIN.match(v) and " -> " not in v and not _CONTROL.search(v)
        return v if plain else json.dumps(v)
    if isinstance(v, list):
        if path == "media.codecs":
            return "[" + ", ".join(f"{c['name']}/{c['rate']}" for c in v) + "]"
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{value(k)}: {value(x)}" for k, x in v.items()) + "}"
    return str(v)


def name(text: str) -> str:
    """A resource name or ID on a header line: escaped like a value when it needs it."""
    return text if not _CONTROL.search(text) and text.strip() == text else json.dumps(text)


def list_lines(f: FieldChange) -> list[str] | None:
    """A long list's change element by element (``+ "x"``, ``- "y"``), or None."""
    old, new = f.old, f.new
    if f.sensitive or not isinstance(old, list) or not isinstance(new, list):
        return None
    if max(len(old), len(new)) <= LONG_LIST or not all(isinstance(x, str) for x in [*old, *new]):
        return None
    removed = [x for x in old if x not in new]
    added = [x for x in new if x not in old]
    lines = [f"{f.path}: ({len(old)} -> {len(new)} elements)"]
    lines += [f"  - {json.dumps(x)}" for x in removed]
    lines += [f"  + {json.dumps(x)}" for x in added]
    return lines


def field_line(f: FieldChange, create: bool) -> str:
    old = MASK if f.sensitive and f.old is not None else value(f.old, f.path)
    new = MASK if f.sensitive and f.new is not None else value(f.new, f.path)
    if create:
        return f"{f.path}: {new}"
    return f"{f.path}: {old} -> {new}"


def header(c: Change) -> str:
    ident = f" ({name(c.id)})" if c.id else ""
    if c.renamed_from is not None:
        return f"~ rename {c.kind} {name(c.renamed_from)} -> {name(c.name)}{ident}"
    return f"{SYMBOL[c.action]} {c.action} {c.kind} {name(c.name)}{ident}"


def change_lines(c: Change) -> list[str]:
    lines = []
    if c.action == "adopt" and not c.fields:
        lines.append("(no field changes: sipctl records its ownership marker)")
    for f in c.fields:
        long = None if c.action == "create" else list_lines(f)
        lines += long if long is not None else [field_line(f, c.action == "create")]
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
            out.append(f"  {r.kind} {name(r.name) if r.name else '(no name)'} ({name(r.id)})")
        out.append("")
    if plan.orphaned:
        out.append(
            "Orphaned (managed by sipctl, no longer in the config; kept: use "
            "--allow-delete or settings.prune to delete):"
        )
        for r in plan.orphaned:
            out.append(f"  {r.kind} {name(r.name)} ({name(r.id)})")
        out.append("")
    if plan.other_owners:
        out.append(
            "Other owners (never changed or deleted by this config; take one over with "
            "--take-ownership NAME):"
        )
        for r in plan.other_owners:
            owner = r.marker.owner if r.marker is not None else None
            out.append(f"  {r.kind} {name(r.name)} ({name(r.id)}) owner {owner}")
        out.append("")
    if plan.unowned:
        out.append(
            "Unowned (managed by sipctl without an owner, not in this config; never deleted by it):"
        )
        for r in plan.unowned:
            out.append(f"  {r.kind} {name(r.name)} ({name(r.id)})")
        out.append("")
    for w in plan.warnings:
        out.append(_style(f"Warning: {json.dumps(w)[1:-1]}", color, fg="yellow"))
    for p in plan.safety.problems():
        out.append(_style(f"Warning: apply would refuse this plan: {p}", color, fg="yellow"))
    if plan.warnings or plan.safety.problems():
        out.append("")
    out.append(_style(plan.summary(), color, bold=True))
    return "\n".join(out) + "\n"
