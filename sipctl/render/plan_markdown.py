"""A plan as Markdown for a pull-request comment: a summary, a table, the diff folded."""

from __future__ import annotations

from sipctl.plan_result import Plan
from sipctl.render import plan_text

_ICON = {"create": "➕", "update": "✏️", "delete": "🗑️", "adopt": "📌", "rename": "🔤"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(plan: Plan) -> str:
    out = ["### sipctl plan", "", f"**{plan.summary()}**", ""]
    if plan.changes:
        out += ["| | Resource | ID | Fields |", "|---|---|---|---|"]
        for c in plan.changes:
            fields = ", ".join(f"`{f.path}`" for f in c.fields) or "–"
            out.append(
                f"| {_ICON[c.action]} {c.action} | {c.kind} `{_cell(c.name)}` | "
                f"{c.id or ''} | {_cell(fields)} |"
            )
        out += ["", "<details><summary>Details</summary>", "", "```diff"]
        for c in plan.changes:
            out.append(plan_text.header(c))
            out += [f"    {line}" for line in plan_text.change_lines(c)]
        out += ["```", "", "</details>", ""]
    if plan.orphaned:
        out.append("**Orphaned** (managed, no longer in the config; kept):")
        out += [f"- {r.kind} `{_cell(r.name)}` ({r.id})" for r in plan.orphaned]
        out.append("")
    if plan.other_owners:
        out.append("**Other owners** (never changed by this config):")
        out += [
            f"- {r.kind} `{_cell(r.name)}` ({r.id}) owner "
            f"`{_cell(r.marker.owner if r.marker and r.marker.owner else '')}`"
            for r in plan.other_owners
        ]
        out.append("")
    if plan.unowned:
        out.append("**Unowned** (managed without an owner, not in this config; kept):")
        out += [f"- {r.kind} `{_cell(r.name)}` ({r.id})" for r in plan.unowned]
        out.append("")
    if plan.unmanaged:
        out.append(f"**Unmanaged** ({len(plan.unmanaged)}, never changed by sipctl):")
        out += [f"- {r.kind} `{_cell(r.name)}` ({r.id})" for r in plan.unmanaged]
        out.append("")
    problems = plan.safety.problems()
    for w in [*plan.warnings, *(f"apply would refuse this plan: {p}" for p in problems)]:
        out.append(f"> ⚠️ {w}")
    return "\n".join(out).rstrip() + "\n"
