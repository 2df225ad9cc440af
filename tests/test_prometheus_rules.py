"""The Prometheus rules in examples/ (issue #13 items 5, 6): they load, compute the RFC 6076
ratios and fire, and every metric they name is one the exporter really exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from sipctl.render.check_prometheus import watch_exposition
from sipctl.results import (
    CallStats,
    DialResult,
    DriftStatus,
    Reason,
    Verdict,
    WatchStatus,
)

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "examples" / "prometheus-alerts.yml"
RULES_TEST = ROOT / "tests" / "prometheus" / "rules_test.yml"
# what Prometheus itself provides, not the exporter
PROMETHEUS_OWN = {"up"}


def exporter_names() -> set[str]:
    """Metric names in a watch's /metrics with every kind of series present."""
    failed = DialResult(
        name="c", trunk="t", to="+1555", expect="answered", verdict=Verdict.FAIL,
        cause="x", reason=Reason.BUSY, sip_status_code=486, post_dial_delay=0.1,
        time_to_answer=None,
    )  # fmt: skip
    stats = CallStats(
        name="c", trunk="t", schedule="every 1m", runs=1, failures=1, consecutive_failures=1,
        skipped_overlap=0, skipped_budget=0, failing=True, next_run=0.0, last=failed,
        outcomes={"486": 1},
    )  # fmt: skip
    drift = DriftStatus(
        schedule="every 10m", runs=1, failures=0, changes={("outbound_trunk", "update"): 1},
        last_success=1.0, last_error=None, next_run=2.0,
    )  # fmt: skip
    status = WatchStatus([stats], 1.0, 120, 0.0, drift=drift)
    body, _ = watch_exposition(status)
    return {
        line.split("{")[0].split(" ")[0]
        for line in body.decode().splitlines()
        if line and not line.startswith("#")
    }


def rules() -> list[dict[str, str]]:
    doc = yaml.safe_load(RULES.read_text())
    assert isinstance(doc, dict) and isinstance(doc["groups"], list)
    out = []
    for group in doc["groups"]:
        assert isinstance(group["name"], str) and group["rules"], group
        for rule in group["rules"]:
            assert ("record" in rule) != ("alert" in rule), rule
            assert isinstance(rule["expr"], str) and rule["expr"].strip(), rule
            if "alert" in rule:
                assert rule["labels"]["severity"] in ("page", "ticket"), rule
                assert rule["annotations"]["summary"], rule
            out.append(rule)
    return out


def test_rules_name_only_metrics_the_exporter_exports() -> None:
    exported = exporter_names()
    recorded = {r["record"] for r in rules() if "record" in r}
    assert {"trunk:sipctl_ser:ratio1h", "trunk:sipctl_seer:ratio1h"} <= recorded
    assert "trunk:sipctl_isa:ratio1h" in recorded
    for rule in rules():
        expr = re.sub(r'"[^"]*"', '""', rule["expr"])  # label values are not names
        names = set(re.findall(r"\b[a-z_][a-z0-9_:]*\b(?=\s*[{\[)]|\s*$|\s*[<>=!])", expr))
        for name in names:
            if (
                name in recorded
                or name in PROMETHEUS_OWN
                or not name.startswith(("sipctl", "trunk:"))
            ):
                continue
            assert name in exported, f"{rule.get('record') or rule.get('alert')}: {name}"
    # the named contracts of issue #13
    assert {"sipctl_probe_calls_total", "sipctl_drift_changes"} <= exported
    assert "sipctl_drift_last_success_timestamp_seconds" in exported


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="needs promtool (apt-get install prometheus)"
)
def test_promtool_checks_and_unit_tests_the_rules() -> None:
    check = subprocess.run(
        ["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    test = subprocess.run(
        ["promtool", "test", "rules", RULES_TEST.name],
        cwd=RULES_TEST.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert test.returncode == 0, test.stdout + test.stderr
