"""Test-call results as a Markdown table (GitHub Actions job summary)."""

from __future__ import annotations

from collections.abc import Sequence

from sipctl.render.check_text import summary
from sipctl.results import DialResult, Verdict

ICONS: dict[Verdict, str] = {
    Verdict.PASS: "✅ pass",
    Verdict.DEGRADED: "⚠️ degraded",
    Verdict.FAIL: "❌ fail",
    Verdict.ERROR: "💥 error",
}


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _secs(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}s"


def render(
    results: Sequence[DialResult], *, elapsed: float | None = None, title: str = "sipctl check"
) -> str:
    rows = [
        f"### {title}",
        "",
        summary(results, elapsed) + ".",
        "",
        "| Call | Trunk | To | Verdict | Cause | SIP | Post-dial delay | Answer | Duration |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        sip = "–" if r.sip_status_code is None else str(r.sip_status_code)
        rows.append(
            "| "
            + " | ".join(
                [
                    f"`{_cell(r.name)}`",
                    _cell(r.trunk),
                    _cell(r.to),
                    ICONS[r.verdict] + (f" `{r.reason}`" if r.reason else ""),
                    _cell(r.cause),
                    sip,
                    _secs(r.post_dial_delay),
                    _secs(r.time_to_answer),
                    _secs(r.duration),
                ]
            )
            + " |"
        )
    return "\n".join(rows) + "\n\n"
