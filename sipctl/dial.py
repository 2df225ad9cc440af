"""One test call, judged: place it (with retries), then say pass, degraded, fail or error.

:func:`run_calls` is the shared runner: ``sipctl check`` and the verification dials of
``sipctl apply`` both use it. :func:`judge` turns what happened on the wire (a
:class:`~sipctl.livekit.calls.CallRecord`) into a verdict and a cause in words a user can
act on; it is pure, so the verdict rules are tested without dialing.

Verdicts:

- **pass**: answered within ``answer_within``, or rejected with the expected SIP status;
- **degraded**: passed, but answered after ``degraded_after``;
- **fail**: the trunk did not do what was expected (rejected, no answer, unreachable);
- **error**: the probe could not be placed (LiveKit unreachable or refusing the
  credentials, trunk not applied, LiveKit failing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from sipctl.aio import wait_all
from sipctl.durations import format_duration
from sipctl.livekit.calls import CallError, CallRecord, CallSpec, PollTiming

if TYPE_CHECKING:
    from livekit.api import LiveKitAPI

    from sipctl.commands.common import Connection
    from sipctl.models import TestCall

log = logging.getLogger(__name__)

PSRPC_PREFIX = "twirp error unknown: "
ROOM_PREFIX = "sipctl-check"

REASONS: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    493: "Undecipherable",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
    607: "Unwanted",
    608: "Rejected",
}

# An expected status that a call ringing out also satisfies: LiveKit cancels the INVITE
# (the provider answers 487) and reports a timeout without a SIP status.
NO_ANSWER_STATUSES = frozenset({408, 480, 487})
# A far-end hang-up this soon after the answer is a call that ended at once. Within it the
# status polls (every 0.1-0.25 s) may or may not have seen "active" first; the verdict must
# not depend on which.
ENDED_AT_ONCE = 1.0


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


EventCallback = Callable[[DialEvent], None]


# --- judging ------------------------------------------------------------------------------


def reason(code: int, text: str | None = None) -> str:
    """``486 Busy Here``: the provider's text unless it is LiveKit's enum name."""
    if text and not text.startswith("SIP_STATUS_") and not text.isdigit():
        return f"{code} {text}"
    return f"{code} {REASONS.get(code, 'SIP status')}"


def _secs(value: float) -> str:
    # local answers take tens of milliseconds: one decimal would say 0.0s
    return f"{value:.2f}s" if value < 1 else f"{value:.1f}s"


def _strip(message: str) -> str:
    while message.startswith(PSRPC_PREFIX):
        message = message[len(PSRPC_PREFIX) :]
    return message


def expect_text(call: TestCall) -> str:
    code = call.expected_status
    return "answered" if code is None else str(code)


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    cause: str
    sip_status_code: int | None = None
    sip_status: str | None = None
    retry: bool = True  # another attempt could change the outcome


def _no_answer(call: TestCall, record: CallRecord, extra: str = "") -> Judgement:
    expected = call.expected_status
    rang = (
        f"ringing since {_secs(record.ringing_at)}"
        if record.ringing_at is not None
        else "never rang"
    )
    text = f"no answer within {format_duration(call.effective_answer_within)} ({rang}){extra}"
    if expected in NO_ANSWER_STATUSES:
        return Judgement(Verdict.PASS, f"{text}, as expected ({reason(expected)})")
    if record.ringing_at is None and record.last_status in (None, "dialing"):
        # Not even a 18x in the whole ring window: over UDP a closed port or a wrong
        # address looks exactly like this (no ICMP reaches the bridge's SIP stack).
        return Judgement(
            Verdict.FAIL,
            f"cannot reach trunk address: no SIP response within "
            f"{format_duration(call.effective_answer_within)} (the call never rang){extra}",
        )
    return Judgement(Verdict.FAIL, text)


def _sip_rejection(call: TestCall, err: CallError) -> Judgement:
    assert err.sip_status_code is not None
    code = err.sip_status_code
    phrase = reason(code, err.sip_status)
    expected = call.expected_status
    if expected == code:
        return Judgement(Verdict.PASS, f"rejected with {phrase}, as expected", code, err.sip_status)
    if code in (401, 403, 407):
        text = (
            f"{phrase} from the provider: check auth.username/auth.password of trunk {call.trunk}"
        )
    elif code in (404, 604):
        text = f"{phrase}: the provider does not know {call.to}"
    elif code in (486, 600):
        text = f"{phrase}: {call.to} is busy"
    elif code == 480:
        text = f"{phrase}: {call.to} cannot be reached right now"
    elif code == 484:
        text = f"{phrase}: the provider finds {call.to} incomplete"
    elif code == 487:
        text = f"{phrase}: the call was cancelled before it was answered"
    elif code in (488, 606):
        text = f"{phrase}: the provider accepts none of the offered media (codecs, encryption)"
    elif code in (603, 607, 608):
        text = f"{phrase}: the provider or the callee refused the call"
    elif code in (408, 504):
        text = f"{phrase} from the provider: it gave up on the call"
    elif 500 <= code < 600:
        text = f"{phrase} from the provider"
    else:
        text = f"{phrase} from the provider"
    if expected is not None:
        text += f" (expected {reason(expected)})"
    return Judgement(Verdict.FAIL, text, code, err.sip_status)


_UNREACHABLE_HINTS = (
    "refused",
    "unreachable",
    "no route",
    "network",
    "transaction failed",
    "lookup",
    "no such host",
    "resolve",
    "i/o timeout",
    "connection reset",
    "dial ",
    "dial:",
)


def _livekit_error(call: TestCall, record: CallRecord, err: CallError) -> Judgement:
    msg = _strip(err.message)
    low = msg.lower()
    where = f"trunk {call.trunk}"
    if err.kind == "auth":
        default = "LiveKit refused the credentials: check LIVEKIT_API_KEY and LIVEKIT_API_SECRET"
        text = err.message if "LIVEKIT_API" in err.message or "grant" in err.message else default
        return Judgement(Verdict.ERROR, text, retry=False)
    if err.kind == "unreachable":
        return Judgement(Verdict.ERROR, err.message)
    if err.kind == "timeout":
        if record.ringing_at is not None or record.last_status is not None:
            return _no_answer(call, record, "; LiveKit did not end the call")
        return Judgement(Verdict.ERROR, "LiveKit did not answer the call request in time")
    code = err.code
    if "max auth retry" in low:
        return Judgement(
            Verdict.FAIL,
            "the provider keeps rejecting the credentials: check "
            f"auth.username/auth.password of {where}",
        )
    if "no username or password" in low:
        return Judgement(
            Verdict.FAIL,
            f"the provider requires authentication, but {where} has no auth.username/auth.password",
        )
    if "no auth header" in low:
        return Judgement(Verdict.FAIL, "the provider challenged the call without an auth header")
    if "no numbers on outbound trunk" in low:
        return Judgement(
            Verdict.ERROR, f"{where} has no numbers in LiveKit: run `sipctl apply`", retry=False
        )
    if code == "not_found":
        return Judgement(
            Verdict.ERROR,
            f"{where} does not exist in LiveKit (any more): run `sipctl apply`",
            retry=False,
        )
    timed_out = ("timed out" in low or "deadline exceeded" in low) and "transaction" not in low
    if timed_out and code in ("canceled", "failed_precondition", "deadline_exceeded"):
        return _no_answer(call, record)
    if code in ("canceled", "failed_precondition", "invalid_argument") and any(
        h in low for h in _UNREACHABLE_HINTS
    ):
        return Judgement(Verdict.FAIL, f"cannot reach trunk address ({msg})")
    if code == "failed_precondition":
        return Judgement(Verdict.FAIL, f"the call failed: {msg}")
    if code == "invalid_argument":
        return Judgement(Verdict.ERROR, f"LiveKit refused the call request: {msg}", retry=False)
    if code == "unavailable":
        return Judgement(Verdict.ERROR, f"LiveKit has no SIP service available: {msg}")
    if code == "permission_denied":
        return Judgement(
            Verdict.ERROR,
            f"LiveKit refused the call: {msg} (does the API key have the SIP call grant?)",
            retry=False,
        )
    return Judgement(Verdict.ERROR, f"LiveKit error ({code or 'unknown'}): {msg or 'no message'}")


def judge(call: TestCall, record: CallRecord) -> Judgement:
    """The verdict on one attempt: what happened against what ``call.expect`` says."""
    err = record.error
    if err is not None:
        if err.kind == "sip" and err.sip_status_code is not None:
            return _sip_rejection(call, err)
        return _livekit_error(call, record, err)
    if not record.answered:
        # place_call returns without answer only with an error; be safe anyway
        return Judgement(Verdict.ERROR, "the call was not placed")
    assert record.answered_at is not None
    answer = record.answered_at
    expected = call.expected_status
    if expected is not None:
        return Judgement(
            Verdict.FAIL,
            f"answered in {_secs(answer)}, but expected {reason(expected)}",
            200,
            "OK",
        )
    hangup = record.remote_hangup_at
    if hangup is not None and (record.active_at is None or hangup - answer < ENDED_AT_ONCE):
        return Judgement(Verdict.FAIL, "answered, then the call ended at once", 200, "OK")
    if record.active_at is None and record.poll_error is not None:
        # not the trunk's fault: LiveKit failed the status polls
        return Judgement(
            Verdict.ERROR,
            f"answered in {_secs(answer)}, but LiveKit failed the probe's status polls "
            f"({record.poll_error})",
            200,
            "OK",
        )
    if record.active_at is None:
        last = record.last_status or "unknown"
        return Judgement(
            Verdict.FAIL,
            f"answered, but the call never became active (sip.callStatus: {last})",
            200,
            "OK",
        )
    limit = call.effective_answer_within
    note = ""
    if record.remote_hangup_at is not None:
        held = record.remote_hangup_at - (record.active_at or answer)
        note = f"; the far end hung up after {_secs(max(held, 0.0))}"
    if answer > limit:
        return Judgement(
            Verdict.FAIL,
            f"answered in {_secs(answer)}, later than answer_within {format_duration(limit)}",
            200,
            "OK",
        )
    if call.degraded_after is not None and answer > call.degraded_after:
        return Judgement(
            Verdict.DEGRADED,
            f"answered in {_secs(answer)}, later than degraded_after "
            f"{format_duration(call.degraded_after)}{note}",
            200,
            "OK",
        )
    return Judgement(Verdict.PASS, f"answered in {_secs(answer)}{note}", 200, "OK")


# --- placing ------------------------------------------------------------------------------


class CallLimiter:
    """At most ``parallelism`` calls at once, and ``max_per_trunk`` through one trunk.

    Carriers reject bursts, so the per-trunk cap holds across everything sharing this
    limiter (``--watch`` shares one between its runs).
    """

    def __init__(self, parallelism: int, max_per_trunk: int) -> None:
        if parallelism < 1 or max_per_trunk < 1:
            raise ValueError("parallelism and max_per_trunk must be at least 1")
        self.parallelism = parallelism
        self.max_per_trunk = max_per_trunk
        self._all = asyncio.Semaphore(parallelism)
        self._trunks: dict[str, asyncio.Semaphore] = {}
        self.active: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.peak_total = 0

    @contextlib.asynccontextmanager
    async def slot(self, trunk: str) -> AsyncIterator[None]:
        sem = self._trunks.setdefault(trunk, asyncio.Semaphore(self.max_per_trunk))
        # The trunk first: a call queued behind a busy trunk holds no global slot.
        async with sem, self._all:
            self.active[trunk] = self.active.get(trunk, 0) + 1
            self.peak[trunk] = max(self.peak.get(trunk, 0), self.active[trunk])
            self.peak_total = max(self.peak_total, sum(self.active.values()))
            try:
                yield
            finally:
                self.active[trunk] -= 1


def _emit(on_event: EventCallback | None, event: DialEvent) -> None:
    if on_event is None:
        return
    try:
        on_event(event)
    except Exception:  # progress output must never break a call
        log.debug("on_event callback failed", exc_info=True)


def error_result(name: str, call: TestCall, cause: str, **kw: Any) -> DialResult:
    return DialResult(
        name=name,
        trunk=call.trunk,
        to=call.to,
        expect=expect_text(call),
        verdict=Verdict.ERROR,
        cause=cause,
        attempts=kw.pop("attempts", 0),
        **kw,
    )


async def dial(
    api: LiveKitAPI,
    name: str,
    call: TestCall,
    trunk_id: str,
    *,
    limiter: CallLimiter,
    conn: Connection | None = None,
    on_event: EventCallback | None = None,
    timing: PollTiming | None = None,
    retry_delay: float = 1.0,
    room_prefix: str = ROOM_PREFIX,
) -> DialResult:
    """Place one test call (1 + ``call.retries`` attempts at most) and judge it."""
    from sipctl.livekit.calls import place_call, probe_identity, room_name

    # Timed from the first dial, not from the queue: waiting for a free slot on the trunk
    # (max_calls_per_trunk) is not the trunk's time.
    t0: float | None = None
    started = time.time()
    result: DialResult | None = None
    for attempt in range(1, call.retries + 2):
        spec = CallSpec(
            trunk_id=trunk_id,
            to=call.to,
            room=room_name(room_prefix, name),
            identity=probe_identity(name),
            from_number=call.from_ or "",
            # ringing past answer_within could only end in a fail: stop ringing there
            ringing_timeout=call.effective_answer_within,
            hold=call.hold,
            dtmf=call.dtmf,
            participant_name=f"sipctl probe {name}",
            attributes={"sipctl.call": name, "sipctl.attempt": str(attempt)},
        )

        def on_status(status: str, elapsed: float, attempt: int = attempt) -> None:
            _emit(
                on_event,
                DialEvent("status", name, call.trunk, attempt, status=status, elapsed=elapsed),
            )

        async with limiter.slot(call.trunk):
            if t0 is None:
                t0, started = time.monotonic(), time.time()
            _emit(on_event, DialEvent("start", name, call.trunk, attempt))
            record = await place_call(api, spec, conn=conn, on_status=on_status, timing=timing)
        j = judge(call, record)
        result = DialResult(
            name=name,
            trunk=call.trunk,
            to=call.to,
            expect=expect_text(call),
            verdict=j.verdict,
            cause=j.cause,
            sip_status_code=j.sip_status_code,
            sip_status=j.sip_status or (REASONS.get(j.sip_status_code or 0)),
            # An answer can come before a poll sees 'ringing': the ring was no later than
            # the answer, so that is the post-dial delay (every answered call reports one).
            post_dial_delay=record.ringing_at
            if record.ringing_at is not None
            else record.answered_at,
            time_to_answer=record.answered_at,
            duration=time.monotonic() - (t0 if t0 is not None else time.monotonic()),
            attempts=attempt,
            trunk_id=trunk_id,
            room=record.room,
            sip_call_id=record.sip_call_id or None,
            error_code=(record.error.code or None) if record.error else None,
            started_at=started,
            cleaned_up=record.cleanup_error is None,
        )
        if record.cleanup_error is not None:
            # The call may still be up: the probe did not do its job, whatever the trunk did.
            if result.verdict.ok:
                result.verdict = Verdict.ERROR
                result.cause += f", but the probe {record.cleanup_error}"
            else:
                result.cause += f" (and the probe {record.cleanup_error})"
            log.warning("%s", record.cleanup_error)
        if j.verdict.ok or not j.retry or attempt > call.retries:
            break
        _emit(on_event, DialEvent("retry", name, call.trunk, attempt, result=result))
        await asyncio.sleep(retry_delay)
    assert result is not None
    return result


async def run_calls(
    conn: Connection,
    calls: Sequence[tuple[str, TestCall]],
    *,
    trunk_ids: Mapping[str, str] | None = None,
    parallelism: int,
    max_per_trunk: int,
    on_event: Callable[[DialEvent], None] | None = None,
    limiter: CallLimiter | None = None,
    timing: PollTiming | None = None,
    retry_delay: float = 1.0,
    room_prefix: str = ROOM_PREFIX,
) -> list[DialResult]:
    """Place ``calls`` (``(name, TestCall)`` pairs) concurrently; results in the same order.

    - ``trunk_ids``: trunk name -> live ``sip_trunk_id``. None: look up the outbound trunks
      sipctl manages (ownership marker in metadata) by name. A call whose trunk has no id
      gets an *error* verdict telling to run ``sipctl apply``.
    - ``parallelism``: calls at once; ``max_per_trunk``: calls at once through one trunk.
    - ``on_event``: called with a :class:`DialEvent` on each attempt start, status change,
      retry and final result (from the event loop; keep it quick, it must not block).
    - ``limiter``: share one :class:`CallLimiter` between runs (``--watch``); it then
      replaces ``parallelism``/``max_per_trunk``.
    - ``timing``, ``retry_delay``, ``room_prefix``: polling, pause between attempts, and the
      prefix of the fresh room each attempt dials into (``<prefix>-<call>-<random>``).

    Never raises for a call's outcome (LiveKit unreachable, trunk missing, SIP failure:
    each is a verdict); cancellation hangs up and deletes the rooms before it propagates.
    """
    from sipctl.errors import SipctlError
    from sipctl.livekit.client import connect

    limiter = limiter or CallLimiter(parallelism, max_per_trunk)
    if not calls:
        return []

    def all_errors(cause: str) -> list[DialResult]:
        results = [error_result(n, c, cause) for n, c in calls]
        for r in results:
            _emit(on_event, DialEvent("done", r.name, r.trunk, 0, result=r))
        return results

    try:
        async with connect(conn) as api:
            return await _run(
                api,
                conn,
                calls,
                trunk_ids,
                limiter,
                on_event,
                timing,
                retry_delay,
                room_prefix,
                all_errors,
            )
    except SipctlError as exc:  # the connection settings themselves are unusable
        return all_errors(str(exc))


async def _run(
    api: LiveKitAPI,
    conn: Connection,
    calls: Sequence[tuple[str, TestCall]],
    trunk_ids: Mapping[str, str] | None,
    limiter: CallLimiter,
    on_event: EventCallback | None,
    timing: PollTiming | None,
    retry_delay: float,
    room_prefix: str,
    all_errors: Callable[[str], list[DialResult]],
) -> list[DialResult]:
    from sipctl.livekit.calls import managed_trunks
    from sipctl.livekit.client import translate_error

    ids: dict[str, str] = dict(trunk_ids) if trunk_ids is not None else {}
    problems: dict[str, str] = {}
    if trunk_ids is None:
        try:
            managed, other = await managed_trunks(api, conn)
        except Exception as exc:
            return all_errors(str(translate_error(exc, conn, "listing the outbound trunks")))
        for trunk in {c.trunk for _, c in calls}:
            found = managed.get(trunk, [])
            if len(found) == 1:
                ids[trunk] = found[0]
            elif len(found) > 1:
                problems[trunk] = (
                    f"{len(found)} outbound trunks managed by sipctl are named {trunk} "
                    f"({', '.join(sorted(found))}): delete the extra ones, then run "
                    "`sipctl apply`"
                )
            elif trunk in other:
                problems[trunk] = (
                    f"trunk {trunk} exists in LiveKit but is not managed by sipctl: "
                    "run `sipctl apply` to adopt it"
                )

    async def one(name: str, call: TestCall) -> DialResult:
        trunk_id = ids.get(call.trunk)
        if trunk_id is None:
            cause = problems.get(
                call.trunk,
                f"trunk {call.trunk} is not in LiveKit: run `sipctl apply` first",
            )
            result = error_result(name, call, cause)
        else:
            try:
                result = await dial(
                    api,
                    name,
                    call,
                    trunk_id,
                    limiter=limiter,
                    conn=conn,
                    on_event=on_event,
                    timing=timing,
                    retry_delay=retry_delay,
                    room_prefix=room_prefix,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not stop the other calls
                log.debug("test call %s crashed", name, exc_info=True)
                result = error_result(name, call, f"internal error ({type(exc).__name__}: {exc})")
        _emit(on_event, DialEvent("done", name, call.trunk, result.attempts, result=result))
        return result

    tasks = [asyncio.create_task(one(n, c), name=f"call {n}") for n, c in calls]
    await wait_all(tasks)
    return [t.result() for t in tasks]
