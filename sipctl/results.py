"""What a test call's run produced, as plain objects: the renderers' input.

Renderers (``sipctl.render.check_*``), apply's report and the watch loop read these;
nothing here talks to LiveKit or judges anything.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

from sipctl.exitcodes import ExitCode


class Verdict(StrEnum):
    PASS = "pass"
    DEGRADED = "degraded"
    FAIL = "fail"
    ERROR = "error"

    @property
    def ok(self) -> bool:
        return self in (Verdict.PASS, Verdict.DEGRADED)


@dataclass
class DialResult:
    """The outcome of one test call (after its retries). Times are seconds.

    ``post_dial_delay``: from the request to the first ``sip.callStatus=ringing`` seen;
    ``time_to_answer``: from the request to its answered return; ``duration``: the whole
    probe, every attempt and the cleanup included; ``attempts``: 1 + retries used.
    ``sip_status_code`` is 200 for an answered call, the provider's final status for a
    rejected one, and None when no SIP status came back (timeout, unreachable, error).
    """

    name: str
    trunk: str
    to: str
    expect: str  # "answered" or the expected status code, e.g. "486"
    verdict: Verdict
    cause: str
    sip_status_code: int | None = None
    sip_status: str | None = None
    post_dial_delay: float | None = None
    time_to_answer: float | None = None
    duration: float = 0.0
    attempts: int = 1
    trunk_id: str | None = None
    room: str | None = None
    sip_call_id: str | None = None
    error_code: str | None = None  # LiveKit's Twirp code when the request failed
    started_at: float = field(default_factory=time.time)  # epoch seconds
    cleaned_up: bool = True

    @property
    def ok(self) -> bool:
        return self.verdict.ok

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = str(self.verdict)
        return data


EventKind = Literal["start", "status", "retry", "done"]


@dataclass(frozen=True)
class DialEvent:
    """Progress of :func:`run_calls`, for live output.

    ``start``: an attempt begins (``attempt`` from 1); ``status``: the participant's
    ``sip.callStatus`` changed to ``status`` after ``elapsed`` seconds; ``retry``: an
    attempt failed (``result`` says why) and another follows; ``done``: the final
    ``result`` of the call.
    """

    kind: EventKind
    name: str
    trunk: str
    attempt: int = 1
    status: str | None = None
    elapsed: float = 0.0
    result: DialResult | None = None


def exit_code(results: Iterable[DialResult]) -> ExitCode:
    """3 when any call failed; otherwise 1 when any was an error; otherwise 0."""
    verdicts = {r.verdict for r in results}
    if Verdict.FAIL in verdicts:
        return ExitCode.FAILED
    if Verdict.ERROR in verdicts:
        return ExitCode.ERROR
    return ExitCode.OK


@dataclass(frozen=True)
class CallStats:
    """One call watched by ``check --watch``, as the exporter and status page show it."""

    name: str
    trunk: str
    schedule: str
    runs: int
    failures: int
    consecutive_failures: int
    skipped_overlap: int
    skipped_budget: int
    failing: bool  # consecutive failures reached settings.failure_threshold
    next_run: float  # epoch seconds
    last: DialResult | None


@dataclass(frozen=True)
class WatchStatus:
    """A running watch at one moment."""

    calls: list[CallStats]
    dials_last_hour: float
    max_calls_per_hour: int
    started_at: float
    stopping: bool = False


WatchEventKind = Literal["result", "skipped"]


@dataclass(frozen=True)
class WatchEvent:
    """A finished run (``result``) or a skipped one (``skipped``, with ``reason``)."""

    kind: WatchEventKind
    name: str
    result: DialResult | None = None
    reason: str = ""
    became_failing: bool = False
    recovered: bool = False
    consecutive_failures: int = 0
    failing: bool = False
    failure_threshold: int = 1
