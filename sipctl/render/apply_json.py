"""An apply report as JSON (``format_version`` 1), keys in this order::

{"format_version": 1,
 "kind": "sipctl-apply",
 "ok": false, "interrupted": false,
 "summary": {"applied": 1, "failed": 1, "not_attempted": 1,
             "text": "Apply failed: 1 applied, 1 failed, 1 not attempted."},
 "changes": [{"action": "create", "kind": "outbound_trunk", "name": "acme-us",
              "id": "ST_...", "method": "create",
              "status": "applied",            # applied | failed | not_attempted
              "error": null, "seconds": 0.05}],
 "verification": {"ran": true, "skipped": null, "passed": 1, "failed": 0,
                  "results": [<the check JSON result of each dial>]},
 "warnings": [],
 "exit_code": 1,
 "plan": <the plan document, as plan --format json prints it>}
"""

from __future__ import annotations

import json
from typing import Any

from sipctl.apply_result import ApplyReport, Outcome
from sipctl.render import apply_text
from sipctl.render.check_json import _result

FORMAT_VERSION = 1


def _outcome(o: Outcome) -> dict[str, Any]:
    c = o.change
    return {
        "action": c.action,
        "kind": c.kind,
        "name": c.name,
        "id": o.id or c.id,
        "method": c.method,
        "status": o.status.replace(" ", "_"),  # applied | failed | not_attempted
        "error": o.error,
        "seconds": round(o.seconds, 3),
    }


def document(report: ApplyReport, *, plan: dict[str, Any] | None = None) -> dict[str, Any]:
    results = [_result(r) for r in report.verification]
    passed = sum(1 for r in report.verification if r.ok)
    return {
        "format_version": FORMAT_VERSION,
        "kind": "sipctl-apply",
        "ok": report.ok,
        "interrupted": report.interrupted,
        "summary": {
            "applied": report.count("applied"),
            "failed": report.count("failed"),
            "not_attempted": report.count("not attempted"),
            "text": apply_text.summary(report),
        },
        "changes": [_outcome(o) for o in report.outcomes],
        "verification": {
            "ran": bool(report.verification),
            "skipped": report.verification_skipped,
            "passed": passed,
            "failed": len(report.verification) - passed,
            "results": results,
        },
        "warnings": list(report.warnings),
        "exit_code": int(report.exit_code),
        "plan": plan,
    }


def render(report: ApplyReport, *, plan: dict[str, Any] | None = None) -> str:
    return json.dumps(document(report, plan=plan), indent=2) + "\n"
