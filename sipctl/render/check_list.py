"""``sipctl check --list``: what would run, dialling nothing."""

from __future__ import annotations

from collections.abc import Sequence

from sipctl.models import TestCall


def render(calls: Sequence[tuple[str, TestCall]], shard: str | None) -> str:
    if not calls:
        return "No test calls selected.\n"
    rows = [("NAME", "TRUNK", "TO", "EXPECT", "SCHEDULE", "TAGS")]
    for name, c in calls:
        expect = "answered" if c.expected_status is None else str(c.expected_status)
        rows.append((name, c.trunk, c.to, expect, c.schedule or "-", ",".join(c.tags) or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    n = len(calls)
    where = f" (shard {shard})" if shard else ""
    lines.append(f"{n} test call{'s' if n != 1 else ''} would run{where}; nothing was dialled.")
    return "\n".join(lines) + "\n"
