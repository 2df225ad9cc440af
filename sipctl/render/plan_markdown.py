"""A plan as Markdown for a pull-request comment: a summary, a table, the diff folded."""

from __future__ import annotations

import html
import re

from sipctl.plan_result import Plan
from sipctl.render import plan_text

# GitHub refuses comments over 65,536 characters: the details are cut before that.
LIMIT = 65_536
_NOTE = (
    "> ✂️ The plan is too long for a comment and was cut here: see the full plan with "
    "`sipctl plan --format json`."
)

_ICON = {"create": "➕", "update": "✏️", "delete": "🗑️", "adopt": "📌", "rename": "🔤"}


def _cell(text: str) -> str:
    """Text for a table cell or list item: no markup, heading or HTML can come through."""
    text = html.escape(re.sub(r"[\x00-\x1f\x7f\u2028\u2029]", " ", text), quote=False)
    return text.replace("|", "\\|").replace("`", "'")


def _fence(lines: list[str]) -> str:
    """A code fence longer than any run of backticks inside: the block stays one block."""
    longest = max((len(m) for line in lines for m in re.findall(r"`+", line)), default=0)
    return "`" * max(3, longest + 1)


def render(plan: Plan) -> str:
    out = ["### sipctl plan", "", f"**{plan.summary()}**", ""]
    if plan.changes:
        out += ["| | Resource | ID | Fields |", "|---|---|---|---|"]
        table_budget = LIMIT // 3
        for i, c in enumerate(plan.changes):
            fields = ", ".join(f"`{_cell(f.path)}`" for f in c.fields) or "–"
            row = (
                f"| {_ICON[c.action]} {c.action} | {c.kind} `{_cell(c.name)}` | "
                f"{_cell(c.id or '')} | {fields} |"
            )
            table_budget -= len(row) + 1
            if table_budget < 0:
                out.append(f"| | … and {len(plan.changes) - i} more | | |")
                break
            out.append(row)
        body: list[str] = []
        for c in plan.changes:
            body.append(plan_text.header(c))
            body += [f"    {line}" for line in plan_text.change_lines(c)]
        fence = _fence(body)
        budget = LIMIT - 4_000 - sum(len(line) + 1 for line in out)
        kept: list[str] = []
        for line in body:
            budget -= len(line) + 1
            if budget < 0:
                break
            kept.append(line)
        out += ["", "<details><summary>Details</summary>", "", f"{fence}diff", *kept, fence]
        out += ["", "</details>", ""]
        if len(kept) < len(body):
            out += [_NOTE, ""]
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
    refused = (f"apply would refuse this plan: {p}" for p in problems)
    # the config's warnings too: a pull request comment is all its reader sees of the run
    for w in [*plan.config_warnings, *plan.warnings, *refused]:
        out.append(f"> ⚠️ {_cell(w)}")
    text = "\n".join(out).rstrip() + "\n"
    if len(text) > LIMIT:  # the lists after the details: cut them too
        text = text[: LIMIT - len(_NOTE) - 2] + "\n" + _NOTE + "\n"
    return text
