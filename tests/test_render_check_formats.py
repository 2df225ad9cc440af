"""Each output format read back by its real consumer: xml.etree, prometheus_client, json."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from prometheus_client.parser import text_string_to_metric_families

from sipctl.render import check_json, check_junit, check_markdown, check_prometheus, check_text
from sipctl.results import DialResult, Reason, Verdict

RESULTS = [
    DialResult(
        name="answer-us",
        trunk="twilio-us",
        to="+15550100001",
        expect="answered",
        verdict=Verdict.PASS,
        cause="answered in 0.4s",
        sip_status_code=200,
        sip_status="OK",
        post_dial_delay=0.1,
        time_to_answer=0.42,
        duration=1.9,
    ),
    DialResult(
        name="slow",
        trunk="twilio-us",
        to="+15550100002",
        expect="answered",
        verdict=Verdict.DEGRADED,
        cause="answered in 3.1s, later than degraded_after 2s",
        reason=Reason.SLOW,
        sip_status_code=200,
        time_to_answer=3.1,
        duration=4.0,
    ),
    DialResult(
        name="busy-expected",
        trunk="telnyx",
        to="+15550200001",
        expect="486",
        verdict=Verdict.PASS,
        cause="rejected with 486 Busy Here, as expected",
        sip_status_code=486,
        sip_status="Busy Here",
        duration=0.3,
    ),
    DialResult(
        name="auth",
        trunk="twilio-us",
        to="+15550100003",
        expect="answered",
        verdict=Verdict.FAIL,
        cause="403 Forbidden from the provider: check auth.username/auth.password of trunk "
        "twilio-us",
        reason=Reason.AUTH,
        sip_status_code=403,
        sip_status="Forbidden",
        duration=0.2,
        attempts=2,
    ),
    DialResult(
        name="gone",
        trunk="old <trunk>",
        to="+15550100004",
        expect="answered",
        verdict=Verdict.ERROR,
        cause='trunk "old" is not in LiveKit: run `sipctl apply` first',
        reason=Reason.LIVEKIT,
        attempts=0,
    ),
]


def test_junit_structure() -> None:
    root = ET.fromstring(check_junit.render(RESULTS, elapsed=5.5))
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("tests") == "5"
    assert suite.get("failures") == "1"
    assert suite.get("errors") == "1"
    assert suite.get("time") == "5.500"
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert list(cases) == ["answer-us", "slow", "busy-expected", "auth", "gone"]
    assert cases["answer-us"].get("time") == "1.900"
    assert len(cases["answer-us"]) == 0
    failure = cases["auth"].find("failure")
    assert failure is not None
    assert "403 Forbidden from the provider" in (failure.get("message") or "")
    assert (failure.get("message") or "").startswith("fail: ")
    assert cases["auth"].find("error") is None
    error = cases["gone"].find("error")
    assert error is not None and "sipctl apply" in (error.get("message") or "")
    assert cases["slow"].find("failure") is None and cases["slow"].find("error") is None
    out = cases["slow"].find("system-out")
    assert out is not None and "later than degraded_after 2s" in (out.text or "")
    assert cases["busy-expected"].find("failure") is None


def test_prometheus_parses_back() -> None:
    text = check_prometheus.render(RESULTS, elapsed=5.5)
    fams = {f.name: f for f in text_string_to_metric_families(text)}

    def value(metric: str, call: str, **labels: str) -> float:
        for s in fams[metric].samples:
            if s.labels.get("call") == call and all(
                s.labels.get(k) == v for k, v in labels.items()
            ):
                return float(s.value)
        raise KeyError((metric, call))

    assert value("sipctl_probe_success", "answer-us", trunk="twilio-us") == 1
    assert value("sipctl_probe_success", "slow") == 1
    assert value("sipctl_probe_success", "busy-expected") == 1
    assert value("sipctl_probe_success", "auth") == 0
    assert value("sipctl_probe_success", "gone", trunk="old <trunk>") == 0
    assert value("sipctl_probe_degraded", "slow") == 1
    assert value("sipctl_probe_degraded", "answer-us") == 0
    assert value("sipctl_probe_sip_status_code", "busy-expected") == 486
    assert value("sipctl_probe_sip_status_code", "gone") == 0
    assert value("sipctl_probe_post_dial_delay_seconds", "answer-us") == 0.1
    assert value("sipctl_probe_answer_seconds", "answer-us") == 0.42
    assert value("sipctl_probe_duration_seconds", "slow") == 4.0
    assert value("sipctl_probe_verdict", "auth", verdict="fail") == 1
    assert value("sipctl_probe_verdict", "auth", verdict="pass") == 0
    # not measured: absent, not zero
    answer_calls = {s.labels["call"] for s in fams["sipctl_probe_answer_seconds"].samples}
    assert answer_calls == {"answer-us", "slow"}
    assert fams["sipctl_probe_success"].type == "gauge"


def test_json_round_trip() -> None:
    doc = json.loads(check_json.render(RESULTS, elapsed=5.5))
    assert doc["format_version"] == 1
    assert doc["summary"] == {
        "total": 5,
        "pass": 2,
        "degraded": 1,
        "fail": 1,
        "error": 1,
        "exit_code": 3,
        "elapsed": 5.5,
    }
    first = doc["results"][0]
    assert first["name"] == "answer-us"
    assert first["verdict"] == "pass"
    assert first["sip_status_code"] == 200
    assert first["time_to_answer"] == 0.42
    assert doc["results"][4]["post_dial_delay"] is None


def test_text_lines_and_summary() -> None:
    text = check_text.render(RESULTS, elapsed=5.5)
    lines = text.splitlines()
    assert lines[0].startswith("PASS     answer-us: answered in 0.4s (trunk twilio-us")
    assert lines[3].startswith("FAIL     auth: 403 Forbidden")
    assert "2 attempts" in lines[3]
    assert lines[-1] == "5 test calls: 2 passed, 1 degraded, 1 failed, 1 error in 5.5s"


def test_markdown_table() -> None:
    md = check_markdown.render(RESULTS)
    rows = [r for r in md.splitlines() if r.startswith("| ")]
    assert len(rows) == 2 + len(RESULTS)  # header, rule, one per call
    assert "| `auth` | twilio-us |" in md
    assert "❌ fail" in md and "⚠️ degraded" in md
    # a pipe in a cell must not break the table
    assert all(r.count(" | ") == 8 for r in rows[2:])


def test_every_format_carries_the_same_reason() -> None:
    """JSON ``reason``, JUnit's failure/error ``type``, Prometheus' ``reason`` label, the
    Markdown verdict cell and the text line agree (issue #13 item 2)."""
    import json

    from prometheus_client.parser import text_string_to_metric_families

    want = {r.name: (str(r.reason) if r.reason else None) for r in RESULTS}
    doc = json.loads(check_json.render(RESULTS))
    assert {r["name"]: r["reason"] for r in doc["results"]} == want
    root = ET.fromstring(check_junit.render(RESULTS))
    junit = {}
    for case in root.iter("testcase"):
        bad = case.find("failure")
        bad = case.find("error") if bad is None else bad
        junit[case.get("name")] = None if bad is None else bad.get("type")
    assert {k: v for k, v in junit.items() if v} == {"auth": "auth", "gone": "livekit"}
    prom = {
        s.labels["call"]: s.labels["reason"]
        for f in text_string_to_metric_families(check_prometheus.render(RESULTS))
        if f.name == "sipctl_probe_reason"
        for s in f.samples
    }
    assert prom == {k: v for k, v in want.items() if v}
    md = check_markdown.render(RESULTS)
    assert "❌ fail `auth`" in md and "⚠️ degraded `slow`" in md
    assert "(reason auth, " in check_text.render(RESULTS)
