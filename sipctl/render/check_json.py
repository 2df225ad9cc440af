"""Test-call results as JSON (``format_version`` 1): a summary and one object per call.

    {"format_version": 1,
     "summary": {"total": 2, "pass": 1, "degraded": 0, "fail": 1, "error": 0,
                 "exit_code": 3, "elapsed": 3.2},
     "results": [{"name": "answer-us", "trunk": "twilio-us", "verdict": "pass",
                  "cause": "answered in 0.4s", "reason": null, "sip_status_code": 200,
                  ...}, ...]}

Times are seconds (floats); absent measurements are null. ``reason`` is null for a pass,
else one of :class:`sipctl.results.Reason` (``unreachable``, ``auth``, ...).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sipctl.results import DialResult, Verdict, exit_code

FORMAT_VERSION = 1


def document(results: Sequence[DialResult], *, elapsed: float | None = None) -> dict[str, Any]:
    summary: dict[str, Any] = {"total": len(results)}
    for v in Verdict:
        summary[str(v)] = sum(1 for r in results if r.verdict is v)
    summary["exit_code"] = exit_code(results)
    summary["elapsed"] = None if elapsed is None else round(elapsed, 3)
    return {
        "format_version": FORMAT_VERSION,
        "summary": summary,
        "results": [_result(r) for r in results],
    }


def _result(r: DialResult) -> dict[str, Any]:
    data = r.to_dict()
    for key in ("post_dial_delay", "time_to_answer", "duration", "started_at"):
        if isinstance(data.get(key), float):
            data[key] = round(data[key], 3)
    return data


def render(results: Sequence[DialResult], *, elapsed: float | None = None) -> str:
    return json.dumps(document(results, elapsed=elapsed), indent=2) + "\n"
