"""A plan that cannot be forged and fits a pull request (#12 item 11)."""

from __future__ import annotations

from sipctl.plan import make_plan
from sipctl.render import plan_markdown, plan_text
from tests.reconcile_helpers import API_SECRET, config, live, out_model, outbound_pb


def _plan_with_metadata(text: str) -> str:
    cfg = config(outbound={"acme": out_model(metadata=text)})
    state = live(outbound=(outbound_pb("acme"),))
    return plan_text.render(make_plan(cfg, state, api_secret=API_SECRET))


def test_a_newline_in_a_value_cannot_forge_lines() -> None:
    forged = "x\n  + create outbound_trunk evil\nPlan: 0 to create, 0 to update, 0 to delete."
    text = _plan_with_metadata(forged)
    assert "\n  + create outbound_trunk evil" not in text
    assert [line for line in text.splitlines() if line.startswith("Plan: ")] == [
        "Plan: 0 to create, 1 to update, 0 to delete."
    ]
    assert "\\n  + create outbound_trunk evil" in text  # escaped, on its field's line


def test_markdown_stays_one_code_block_without_markup() -> None:
    cfg = config(outbound={"acme": out_model(metadata="```\n# Approved\n<img src=x>")})
    state = live(outbound=(outbound_pb("acme"),))
    md = plan_markdown.render(make_plan(cfg, state, api_secret=API_SECRET))
    fences = [line for line in md.splitlines() if line.startswith("```")]
    assert len(fences) == 2 and fences[0].removesuffix("diff") == fences[1]
    assert "\n# Approved" not in md and "<img" not in md.split(fences[0])[0]


def test_long_lists_are_diffed_element_by_element() -> None:
    before = [f"+1555010{i:04d}" for i in range(10)]
    after = [*before[1:], "+15550109999"]
    cfg = config(outbound={"acme": out_model(numbers=after)})
    state = live(outbound=(outbound_pb("acme", numbers=tuple(before)),))
    text = plan_text.render(make_plan(cfg, state, api_secret=API_SECRET))
    assert '  + "+15550109999"' in text and '  - "+15550100000"' in text
    assert text.count("+15550100005") == 0  # unchanged elements are not printed twice


def test_markdown_fits_a_github_comment() -> None:
    outbound = {f"t{i:05d}": out_model(address=f"h{i}.example.com") for i in range(3000)}
    md = plan_markdown.render(make_plan(config(outbound=outbound), live(), api_secret=API_SECRET))
    assert len(md) <= plan_markdown.LIMIT
    assert "sipctl plan --format json" in md
    assert md.count("```") == 2
