"""Test-call results as JUnit XML, for CI test reports.

One ``testsuite`` ("sipctl check"), one ``testcase`` per call (``classname`` the trunk);
fail: a ``failure`` element whose ``message`` carries the verdict and whose ``type`` is the
reason (``unreachable``, ``auth``, ...); error: an ``error`` element (``type`` the reason);
degraded: a pass with the cause in ``system-out``; ``time`` the probe's duration.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime

from sipctl.results import DialResult, Verdict

SUITE = "sipctl check"


def _details(r: DialResult) -> str:
    lines = [
        f"call: {r.name}",
        f"trunk: {r.trunk}" + (f" ({r.trunk_id})" if r.trunk_id else ""),
        f"to: {r.to}",
        f"expect: {r.expect}",
        f"verdict: {r.verdict}",
        f"cause: {r.cause}",
    ]
    if r.reason is not None:
        lines.append(f"reason: {r.reason}")
    if r.sip_status_code is not None:
        lines.append(f"sip status: {r.sip_status_code} {r.sip_status or ''}".rstrip())
    if r.post_dial_delay is not None:
        lines.append(f"post-dial delay: {r.post_dial_delay:.3f}s")
    if r.time_to_answer is not None:
        lines.append(f"time to answer: {r.time_to_answer:.3f}s")
    if r.audio_active_ratio is not None:
        lines.append(f"audio active: {r.audio_active_ratio:.0%}")
    if r.audio_echo_delay is not None:
        lines.append(f"audio echo delay: {r.audio_echo_delay:.3f}s")
    lines.append(f"attempts: {r.attempts}")
    if r.room:
        lines.append(f"room: {r.room}")
    if r.sip_call_id:
        lines.append(f"sip call id: {r.sip_call_id}")
    return "\n".join(lines) + "\n"


def _audio_properties(case: ET.Element, r: DialResult) -> None:
    """Audio figures as testcase properties (read by GitLab, Jenkins and others)."""
    figures = {
        "audio_active_ratio": r.audio_active_ratio,
        "audio_echo_delay_seconds": r.audio_echo_delay,
    }
    if all(v is None for v in figures.values()):
        return
    props = ET.SubElement(case, "properties")
    for name, value in figures.items():
        if value is not None:
            ET.SubElement(props, "property", name=name, value=f"{value:.3f}")


def render(results: Sequence[DialResult], *, elapsed: float | None = None) -> str:
    failures = sum(1 for r in results if r.verdict is Verdict.FAIL)
    errors = sum(1 for r in results if r.verdict is Verdict.ERROR)
    total_time = elapsed if elapsed is not None else sum(r.duration for r in results)
    started = min((r.started_at for r in results), default=None)
    stamp = (
        datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        if started is not None
        else datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    )
    suites = ET.Element(
        "testsuites",
        name=SUITE,
        tests=str(len(results)),
        failures=str(failures),
        errors=str(errors),
        time=f"{total_time:.3f}",
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=SUITE,
        tests=str(len(results)),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        time=f"{total_time:.3f}",
        timestamp=stamp,
        hostname=socket.gethostname(),
    )
    for r in results:
        case = ET.SubElement(
            suite, "testcase", name=r.name, classname=f"sipctl.{r.trunk}", time=f"{r.duration:.3f}"
        )
        _audio_properties(case, r)
        message = f"{r.verdict}: {r.cause}"
        if r.verdict is Verdict.FAIL:
            el = ET.SubElement(case, "failure", message=message, type=str(r.reason or "fail"))
            el.text = _details(r)
        elif r.verdict is Verdict.ERROR:
            el = ET.SubElement(case, "error", message=message, type=str(r.reason or "error"))
            el.text = _details(r)
        elif r.verdict is Verdict.DEGRADED:
            out = ET.SubElement(case, "system-out")
            out.text = f"degraded: {r.cause}\n" + _details(r)
    ET.indent(suites)
    body = ET.tostring(suites, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
