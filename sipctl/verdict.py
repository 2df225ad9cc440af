"""The verdict rules: what happened on the wire against what a test call expects.

Pure functions: :func:`judge` turns a :class:`~sipctl.livekit.records.CallRecord` into a
verdict and a cause in words a user can act on, so the rules are tested without dialing.

Verdicts:

- **pass**: answered within ``answer_within``, or rejected with the expected SIP status;
- **degraded**: passed, but answered after ``degraded_after``;
- **fail**: the trunk did not do what was expected (rejected, no answer, unreachable);
- **error**: the probe could not be placed (LiveKit unreachable or refusing the
  credentials, trunk not applied, LiveKit failing).
"""

from __future__ import annotations

from dataclasses import dataclass

from sipctl.durations import format_duration
from sipctl.livekit.records import CallRecord, LiveKitFailure
from sipctl.models import TestCall
from sipctl.results import Verdict

# psrpc wraps the bridge's errors once per hop: "twirp error unknown: twirp error unknown: …"
PSRPC_PREFIX = "twirp error unknown: "

# RFC 3261 §21 reason phrases, for providers that send none (and LiveKit's enum names).
SIP_PHRASES: dict[int, str] = {
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


# An expected status that a call ringing out also satisfies: LiveKit cancels the INVITE
# (the provider answers 487) and reports a timeout without a SIP status.
NO_ANSWER_STATUSES = frozenset({408, 480, 487})
# A far-end hang-up this soon after the answer is a call that ended at once. Within it the
# status polls (every 0.1-0.25 s) may or may not have seen "active" first; the verdict must
# not depend on which.
ENDED_AT_ONCE = 1.0


def status_text(code: int, text: str | None = None) -> str:
    """``486 Busy Here``: the provider's text unless it is LiveKit's enum name."""
    if text and not text.startswith("SIP_STATUS_") and not text.isdigit():
        return f"{code} {text}"
    return f"{code} {SIP_PHRASES.get(code, 'SIP status')}"


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
        return Judgement(Verdict.PASS, f"{text}, as expected ({status_text(expected)})")
    if record.ringing_at is None and record.last_status in (None, "dialing"):
        # Not even a 18x in the whole ring window: over UDP a closed port or a wrong
        # address looks exactly like this (no ICMP reaches the bridge's SIP stack).
        return Judgement(
            Verdict.FAIL,
            f"cannot reach trunk address: no SIP response within "
            f"{format_duration(call.effective_answer_within)} (the call never rang){extra}",
        )
    return Judgement(Verdict.FAIL, text)


def _sip_rejection(call: TestCall, err: LiveKitFailure) -> Judgement:
    assert err.sip_status_code is not None
    code = err.sip_status_code
    phrase = status_text(code, err.sip_status)
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
        text += f" (expected {status_text(expected)})"
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


def _livekit_error(call: TestCall, record: CallRecord, err: LiveKitFailure) -> Judgement:
    msg = _strip(err.text)
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
            f"answered in {_secs(answer)}, but expected {status_text(expected)}",
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
