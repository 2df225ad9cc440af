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

from dataclasses import dataclass, replace

from sipctl.audio import AudioFinding, Heard, judge_audio
from sipctl.durations import format_duration
from sipctl.livekit.records import CallRecord, LiveKitFailure
from sipctl.models import AudioCheck, TestCall
from sipctl.results import Reason, Verdict

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

# A far-end hang-up this soon after the answer is a call that ended at once. Within it the
# status polls (every 0.1-0.25 s) may or may not have seen "active" first; the verdict must
# not depend on which.
ENDED_AT_ONCE = 1.0
# A hang-up this close to the end of the hold ended with it (the hold polls every 0.25 s).
HOLD_SLACK = 0.3
# The call left the room this close to LiveKit's media timeout after the answer: the
# timeout (the polls see it up to 0.25 s late, after the bridge's BYE transaction).
MEDIA_TIMEOUT_EARLY, MEDIA_TIMEOUT_LATE = 0.5, 1.0


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


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    cause: str
    sip_status_code: int | None = None
    sip_status: str | None = None
    retry: bool = True  # another attempt could change the outcome
    reason: Reason | None = None  # None for pass


def _answered(verdict: Verdict, cause: str, reason: Reason | None = None) -> Judgement:
    return Judgement(verdict, cause, 200, "OK", reason=reason)


def _unreachable(call: TestCall, address: str | None, detail: str) -> Judgement:
    """The trunk's address gave no SIP response: no expectation is met by silence."""
    where = address or f"the address of trunk {call.trunk}"
    return Judgement(
        Verdict.FAIL,
        f"no SIP response from {where} {detail}: check the trunk's address, port and "
        "transport, and that the provider accepts SIP from LiveKit (firewall, IP allow-list)",
        reason=Reason.UNREACHABLE,
    )


def _no_answer(
    call: TestCall, record: CallRecord, address: str | None, extra: str = ""
) -> Judgement:
    """The ring window ended without a final response from the provider."""
    window = format_duration(call.effective_answer_within)
    if record.ringing_at is None and record.last_status in (None, "dialing"):
        # Not even a 18x in the whole ring window: over UDP a closed port or a wrong
        # address looks exactly like this (no ICMP reaches the bridge's SIP stack).
        return _unreachable(call, address, f"within {window} (the call never rang){extra}")
    rang = f"ringing since {_secs(record.ringing_at)}" if record.ringing_at is not None else "rang"
    text = f"no answer within {window} ({rang}){extra}"
    if call.rings_out:
        return Judgement(Verdict.PASS, f"{text}, as expected (rings out)")
    expected = call.expected_status
    if expected is not None:
        # sipctl (LiveKit's ringing timeout) ended the ringing, not the provider: its
        # 408/480/487 never came, so that expectation is not met
        return Judgement(
            Verdict.FAIL,
            f"{text}: the provider sent no final status, sipctl stopped the ringing "
            f"(expected {status_text(expected)} from the provider; to expect a number that "
            "rings without an answer, use expect: {rings_out: true})",
            reason=Reason.TIMEOUT,
        )
    return Judgement(
        Verdict.FAIL,
        f"{text}: nobody picked up; is {call.to} a number that answers (an IVR or test line)?",
        reason=Reason.TIMEOUT,
    )


_CREDENTIALS = (
    "the provider did not accept the credentials: check auth.username/auth.password of "
    "trunk {trunk}"
)
_UNKNOWN_NUMBER = (
    "the provider does not know {to}: check the number (E.164, country code) and the "
    "provider's routing for it"
)
_NO_COMMON_MEDIA = (
    "the provider accepts none of the offered media: check the trunk's codecs and media encryption"
)
# (reason, what to check next) by the provider's final SIP status
_STATUS_HINTS: dict[int, tuple[Reason, str]] = {
    401: (Reason.AUTH, _CREDENTIALS),
    407: (Reason.AUTH, _CREDENTIALS),
    403: (
        Reason.AUTH,
        "credentials accepted by the provider? IP allow-list? (check auth.username/"
        "auth.password of trunk {trunk} and that the provider allows LiveKit's addresses "
        "and the caller ID)",
    ),
    404: (Reason.NUMBER, _UNKNOWN_NUMBER),
    604: (Reason.NUMBER, _UNKNOWN_NUMBER),
    484: (Reason.NUMBER, "the provider finds {to} incomplete: check the number's digits"),
    486: (Reason.BUSY, "{to} is busy: a test number should not be (is something else calling it?)"),
    600: (Reason.BUSY, "{to} is busy everywhere"),
    480: (
        Reason.CAPACITY,
        "{to} or the provider cannot take the call right now: check the trunk's channel and "
        "call-rate limits with the provider, then the number",
    ),
    503: (
        Reason.CAPACITY,
        "the provider has no capacity for the call (channel limit, overloaded route): check "
        "the trunk's channel and call-rate limits",
    ),
    603: (Reason.DECLINED, "the callee or the provider declined the call"),
    607: (Reason.DECLINED, "the callee marked the call unwanted"),
    608: (
        Reason.BLOCKED,
        "an intermediary rejected the call (call blocking, caller-ID reputation): check the "
        "caller ID (from) with the provider",
    ),
    488: (Reason.MEDIA, _NO_COMMON_MEDIA),
    606: (Reason.MEDIA, _NO_COMMON_MEDIA),
    415: (Reason.MEDIA, _NO_COMMON_MEDIA),
    408: (Reason.TIMEOUT, "the provider gave up on the call (nobody answered in its time)"),
    504: (Reason.TIMEOUT, "the provider gave up on the call (a timeout further on)"),
    487: (Reason.TIMEOUT, "the provider ended the call attempt before an answer"),
}
_CAPACITY_TEXTS = ("channel limit", "capacity", "too many calls", "concurrent", "limit reached")


def _sip_rejection(call: TestCall, err: LiveKitFailure) -> Judgement:
    """The provider sent a final status: the only way an expected sip_status is met."""
    assert err.sip_status_code is not None
    code = err.sip_status_code
    phrase = status_text(code, err.sip_status)
    expected = call.expected_status
    if expected == code:
        return Judgement(Verdict.PASS, f"rejected with {phrase}, as expected", code, err.sip_status)
    low = f"{err.text} {err.sip_status or ''}".lower()
    if "blocked by carrier" in low or "32203" in low:
        reason, hint = (
            Reason.BLOCKED,
            (
                "the carrier blocked the call (X-Twilio-Error 32203 and the like): check that the "
                "caller ID (from) is verified and the destination allowed (geo permissions)"
            ),
        )
    elif any(t in low for t in _CAPACITY_TEXTS):
        reason, hint = (
            Reason.CAPACITY,
            ("the provider is at a channel or call limit: check the trunk's limits"),
        )
    elif code in _STATUS_HINTS:
        reason, hint = _STATUS_HINTS[code]
    else:
        reason, hint = Reason.REJECTED, "the provider rejected the call"
    text = f"{phrase}: {hint.format(trunk=call.trunk, to=call.to)}"
    if expected is not None:
        text += f" (expected {status_text(expected)})"
    elif call.rings_out:
        text += " (expected it to ring without an answer)"
    return Judgement(Verdict.FAIL, text, code, err.sip_status, reason=reason)


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


def _livekit_error(
    call: TestCall, record: CallRecord, err: LiveKitFailure, address: str | None
) -> Judgement:
    msg = _strip(err.text)
    low = msg.lower()
    where = f"trunk {call.trunk}"

    def error(text: str, retry: bool = True) -> Judgement:
        return Judgement(Verdict.ERROR, text, retry=retry, reason=Reason.LIVEKIT)

    def auth(text: str) -> Judgement:
        return Judgement(Verdict.FAIL, text, reason=Reason.AUTH)

    if err.kind == "auth":
        default = "LiveKit refused the credentials: check LIVEKIT_API_KEY and LIVEKIT_API_SECRET"
        text = err.message if "LIVEKIT_API" in err.message or "grant" in err.message else default
        return error(text, retry=False)
    if err.kind == "unreachable":
        return error(err.message)
    if err.kind == "timeout":
        if record.ringing_at is not None or record.last_status is not None:
            return _no_answer(call, record, address, "; LiveKit did not end the call")
        return error("LiveKit did not answer the call request in time")
    code = err.code
    if "max auth retry" in low:
        return auth(
            "the provider keeps challenging the credentials (401/407 again and again): check "
            f"auth.username/auth.password of {where}"
        )
    if "no username or password" in low:
        return auth(
            f"the provider requires authentication, but {where} has no auth.username/auth.password"
        )
    if "no auth header" in low:
        return auth("the provider challenged the call without an auth header")
    if "no numbers on outbound trunk" in low:
        return error(f"{where} has no numbers in LiveKit: run `sipctl apply`", retry=False)
    if code == "not_found":
        return error(f"{where} does not exist in LiveKit (any more): run `sipctl apply`", False)
    timed_out = ("timed out" in low or "deadline exceeded" in low) and "transaction" not in low
    if timed_out and code in ("canceled", "failed_precondition", "deadline_exceeded"):
        return _no_answer(call, record, address)
    if code in ("canceled", "failed_precondition", "invalid_argument") and any(
        h in low for h in _UNREACHABLE_HINTS
    ):
        return _unreachable(call, address, f"({msg})")
    if code == "failed_precondition":
        reason = Reason.MEDIA if "sdp" in low or "codec" in low else Reason.REJECTED
        return Judgement(Verdict.FAIL, f"the call failed: {msg}", reason=reason)
    if code == "invalid_argument":
        return error(f"LiveKit refused the call request: {msg}", retry=False)
    if code == "unavailable":
        return error(f"LiveKit has no SIP service available: {msg}")
    if code == "permission_denied":
        return error(
            f"LiveKit refused the call: {msg} (does the API key have the SIP call grant?)", False
        )
    return error(f"LiveKit error ({code or 'unknown'}): {msg or 'no message'}")


def _dropped(
    call: TestCall, record: CallRecord, media_timeout_initial: float | None
) -> Judgement | None:
    """An answered call that ended before its hold was over, or None."""
    hangup, answer = record.remote_hangup_at, record.answered_at
    if hangup is None or answer is None:
        return None
    after = hangup - answer
    if (
        record.ended_by == "livekit"
        and media_timeout_initial is not None
        and media_timeout_initial - MEDIA_TIMEOUT_EARLY <= after
        and after <= media_timeout_initial + MEDIA_TIMEOUT_LATE
    ):
        # LiveKit ended it at its initial media timeout, with no BYE status from the far
        # end (livekit/sip media_port.go timeoutLoop; outbound.go closeWithTimeout)
        return _answered(
            Verdict.FAIL,
            f"the far end sent no audio: LiveKit ended the call {after:.1f} s after the "
            f"answer, at its media timeout ({format_duration(media_timeout_initial)} without "
            "RTP), with no hangup from the far end: check the provider's media path (RTP "
            "ports, NAT, firewall) and the codecs",
            Reason.NO_MEDIA,
        )
    if record.ended_by == "far_end":
        who = "the far end hung up (sip.callStatus: hangup)"
    else:
        who = "the SIP participant left the room without a hangup status from the far end"
    if record.active_at is None or hangup - answer < ENDED_AT_ONCE:
        return _answered(
            Verdict.FAIL, f"answered, then the call ended at once: {who}", Reason.DROPPED
        )
    start = record.hold_started_at if record.hold_started_at is not None else record.active_at
    held = max(hangup - start, 0.0)
    if held + HOLD_SLACK >= call.hold:
        return None  # it ended as the hold did: nothing was cut short
    return _answered(
        Verdict.FAIL,
        f"dropped after {held:.1f} s of a {format_duration(call.hold)} hold: {who}",
        Reason.DROPPED,
    )


def judge(
    call: TestCall,
    record: CallRecord,
    address: str | None = None,
    media_timeout_initial: float | None = None,
) -> Judgement:
    """The verdict on one attempt: what happened against what ``call.expect`` says.

    ``address``: the trunk's address as LiveKit has it, named when it gave no SIP response.
    ``media_timeout_initial``: LiveKit's (``settings.media_timeout_initial``); a call
    LiveKit ends then, without a hangup from the far end, is ``no_media``.
    """
    err = record.error
    if err is not None:
        if err.kind == "sip" and err.sip_status_code is not None:
            return _sip_rejection(call, err)
        return _livekit_error(call, record, err, address)
    if not record.answered:
        # place_call returns without answer only with an error; be safe anyway
        return Judgement(Verdict.ERROR, "the call was not placed", reason=Reason.LIVEKIT)
    assert record.answered_at is not None
    answer = record.answered_at
    expected = call.expected_status
    if expected is not None:
        return _answered(
            Verdict.FAIL,
            f"answered in {_secs(answer)}, but expected {status_text(expected)}",
            Reason.ANSWERED,
        )
    if call.rings_out:
        return _answered(
            Verdict.FAIL,
            f"answered in {_secs(answer)}, but expected it to ring without an answer",
            Reason.ANSWERED,
        )
    dropped = _dropped(call, record, media_timeout_initial)
    if dropped is not None:
        return dropped
    if record.active_at is None and record.poll_error is not None:
        # not the trunk's fault: LiveKit failed the status polls
        return Judgement(
            Verdict.ERROR,
            f"answered in {_secs(answer)}, but LiveKit failed the probe's status polls "
            f"({record.poll_error})",
            200,
            "OK",
            reason=Reason.LIVEKIT,
        )
    if record.active_at is None:
        last = record.last_status or "unknown"
        return _answered(
            Verdict.FAIL,
            f"answered, but the call never became active (sip.callStatus: {last})",
            Reason.DROPPED,
        )
    limit = call.effective_answer_within
    note = ""
    if record.remote_hangup_at is not None:  # at the end of the hold (see _dropped)
        held = record.remote_hangup_at - (record.active_at or answer)
        note = f"; the far end hung up after {_secs(max(held, 0.0))}"
    if answer > limit:
        return _answered(
            Verdict.FAIL,
            f"answered in {_secs(answer)}, later than answer_within {format_duration(limit)}",
            Reason.SLOW,
        )
    if call.degraded_after is not None and answer > call.degraded_after:
        return _answered(
            Verdict.DEGRADED,
            f"answered in {_secs(answer)}, later than degraded_after "
            f"{format_duration(call.degraded_after)}{note}",
            Reason.SLOW,
        )
    return _answered(Verdict.PASS, f"answered in {_secs(answer)}{note}")


def with_audio(j: Judgement, check: AudioCheck, heard: Heard) -> tuple[Judgement, AudioFinding]:
    """The verdict once the call's audio is judged (test call ``audio``). A call that did
    not pass on SIP keeps its verdict (``no_media`` included: LiveKit already said nothing
    came); a passing one fails on the audio, or is an error when the probe could not listen.
    """
    finding = judge_audio(
        check.expect,
        heard.pcm,
        min_active=check.min_active,
        frequency=check.tone_hz,
        first_frame_at=heard.first_frame_at,
        sent_from=heard.sent_from,
    )
    if not j.verdict.ok:
        return j, finding
    if heard.error is not None:
        cause = f"{j.cause}, but the probe {heard.error}"
        return replace(j, verdict=Verdict.ERROR, cause=cause, reason=Reason.LIVEKIT), finding
    if finding.reason is not None:
        cause = f"{j.cause}, but {finding.text}"
        return replace(j, verdict=Verdict.FAIL, cause=cause, reason=Reason(finding.reason)), finding
    return replace(j, cause=f"{j.cause}; {finding.text}"), finding
