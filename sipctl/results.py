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
from sipctl.models import TestCall


class Verdict(StrEnum):
    PASS = "pass"
    DEGRADED = "degraded"
    FAIL = "fail"
    ERROR = "error"

    @property
    def ok(self) -> bool:
        return self in (Verdict.PASS, Verdict.DEGRADED)


class Reason(StrEnum):
    """Why a call did not pass: the machine-readable taxonomy (JSON ``reason``, the
    Prometheus label ``reason``, JUnit's failure ``type``). Documented in the README."""

    UNREACHABLE = "unreachable"  # no SIP response from the trunk's address
    AUTH = "auth"  # 401/403/407, challenges that never end, missing credentials
    CAPACITY = "capacity"  # 480/503, channel or call limits
    NUMBER = "number"  # 404/484/604: the provider does not know the number
    BUSY = "busy"  # 486/600
    DECLINED = "declined"  # 603/607: the callee or provider declined
    BLOCKED = "blocked"  # carrier block (X-Twilio-Error 32203), 608
    MEDIA = "media"  # 488/606, SDP: no common codec or encryption
    REJECTED = "rejected"  # any other final status from the provider
    TIMEOUT = "timeout"  # rang (or 408/504) but nobody answered in time
    ANSWERED = "answered"  # answered where a rejection or a ring-out was expected
    SLOW = "slow"  # answered, but after degraded_after / answer_within
    DROPPED = "dropped"  # answered, then ended before the hold was over
    NO_MEDIA = "no_media"  # LiveKit ended the call: no RTP from the far end
    MISROUTED = "misrouted"  # an arrive call came in through another trunk or rule
    NOT_ARRIVED = "not_arrived"  # an arrive call did not come back into LiveKit in time
    NO_AUDIO = "no_audio"  # audio check: nothing (or too little) from the far end
    ONE_WAY_AUDIO = "one_way_audio"  # audio check: far end heard, own signal not echoed
    WRONG_AUDIO = "wrong_audio"  # audio check: sound, but not the expected tone
    LIVEKIT = "livekit"  # LiveKit refused or failed the request, or the cleanup
    INTERNAL = "internal"  # a bug in sipctl


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
    reason: Reason | None = None  # None for pass
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
    # audio checks (test call ``audio``): the share with the expected audio; the echo's
    # round trip in seconds (echo only). None when the call has no audio check.
    audio_active_ratio: float | None = None
    audio_echo_delay: float | None = None

    @property
    def ok(self) -> bool:
        return self.verdict.ok

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = str(self.verdict)
        data["reason"] = None if self.reason is None else str(self.reason)
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


def expect_text(call: TestCall) -> str:
    """What the call expects, in one word: ``answered``, ``rings_out``, a status code, or
    ``arrive`` (an inbound test call)."""
    if call.arrive is not None:
        return "arrive"
    if call.rings_out:
        return "rings_out"
    code = call.expected_status
    return "answered" if code is None else str(code)


def exit_code(results: Iterable[DialResult]) -> ExitCode:
    """3 when any call failed; otherwise 1 when any was an error; otherwise 0."""
    verdicts = {r.verdict for r in results}
    if Verdict.FAIL in verdicts:
        return ExitCode.FAILED
    if Verdict.ERROR in verdicts:
        return ExitCode.ERROR
    return ExitCode.OK


# Final SIP statuses the RFC 6076 ratios single out keep their code in the ``outcome``
# label; others count by class (2xx..6xx); "none": no final status (timeout, unreachable,
# LiveKit failing).
RATIO_CODES = frozenset({408, 480, 486, 500, 503, 504, 600, 603})


def outcome(result: DialResult) -> str:
    """The final SIP status of a run as ``sipctl_probe_calls_total``'s ``outcome`` label."""
    code = result.sip_status_code
    if code is None:
        return "none"
    return str(code) if code in RATIO_CODES else f"{code // 100}xx"


@dataclass(frozen=True)
class RunPoint:
    """One past run, for the status page's strip and charts."""

    started_at: float
    verdict: Verdict
    reason: Reason | None
    post_dial_delay: float | None
    time_to_answer: float | None


@dataclass(frozen=True)
class DriftStatus:
    """The drift re-plan of ``check --watch`` (``settings.drift_schedule``)."""

    schedule: str
    runs: int
    failures: int
    changes: dict[tuple[str, str], int]  # (kind, action) -> count, zeros included
    last_success: float | None  # epoch seconds
    last_error: str | None
    next_run: float

    @property
    def total(self) -> int:
        return sum(self.changes.values())


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
    outcomes: dict[str, int] = field(default_factory=dict)  # outcome label -> runs
    history: list[RunPoint] = field(default_factory=list)  # oldest first


@dataclass(frozen=True)
class WatchStatus:
    """A running watch at one moment."""

    calls: list[CallStats]
    dials_last_hour: float
    max_calls_per_hour: int
    started_at: float
    stopping: bool = False
    drift: DriftStatus | None = None
    unscheduled: list[str] = field(default_factory=list)  # configured, no schedule


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
