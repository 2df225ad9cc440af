"""``sipctl check --list``: what would run, dialling nothing."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sipctl.errors import SipctlError
from sipctl.models import TestCall
from sipctl.render.check_outputs import Output
from sipctl.results import expect_text

FORMAT_VERSION = 1


def render(
    calls: Sequence[tuple[str, TestCall]], shard: str | None, outputs: Sequence[Output] = ()
) -> str:
    """The table, or JSON with ``--format json`` (``--list`` prints to stdout only)."""
    formats = {o.format for o in outputs if o.path is None} or {"text"}
    if any(o.path is not None for o in outputs) or not formats <= {"text", "json"}:
        raise SipctlError("--list prints --format text or json to stdout (no --output)")
    if "json" in formats:
        return json_document(calls, shard)
    return table(calls, shard)


def json_document(calls: Sequence[tuple[str, TestCall]], shard: str | None) -> str:
    """``{"format_version": 1, "shard": "1/2", "calls": [{"name": ..., ...}]}``."""
    doc = {
        "format_version": FORMAT_VERSION,
        "shard": shard,
        "calls": [
            {
                "name": name,
                "trunk": c.trunk,
                "to": c.to,
                "expect": expect_text(c),
                "schedule": c.schedule,
                "tags": list(c.tags),
            }
            for name, c in calls
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def table(calls: Sequence[tuple[str, TestCall]], shard: str | None) -> str:
    if not calls:
        return "No test calls selected.\n"
    rows = [("NAME", "TRUNK", "TO", "EXPECT", "SCHEDULE", "TAGS")]
    for name, c in calls:
        expect = expect_text(c)
        rows.append((name, c.trunk, c.to, expect, c.schedule or "-", ",".join(c.tags) or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    n = len(calls)
    where = f" (shard {shard})" if shard else ""
    lines.append(f"{n} test call{'s' if n != 1 else ''} would run{where}; nothing was dialled.")
    return "\n".join(lines) + "\n"
