"""Verdict rules: what happened on the wire against what the test call expects."""

from __future__ import annotations

from typing import Any

import pytest

from sipctl.livekit.records import CallRecord, LiveKitFailure
from sipctl.models import TestCall
from sipctl.results import Reason, Verdict
from sipctl.verdict import judge, status_text


def call(**kw: Any) -> TestCall:
    data: dict[str, Any] = {"trunk": "twilio-us", "to": "+15550100001"}
    data.update(kw)
    return TestCall.model_validate(data)


def answered(at: float, *, ringing: float | None = 0.2, active: bool = True) -> CallRecord:
    r = CallRecord(room="r", identity="i", ringing_at=ringing, answered_at=at)
    if active:
        r.active_at = at + 0.01
        r.last_status = "active"
    return r


def failed(err: LiveKitFailure, ringing: float | None = None) -> CallRecord:
    return CallRecord(room="r", identity="i", error=err, ringing_at=ringing)


def sip(code: int, text: str | None = None, twirp: str = "resource_exhausted") -> LiveKitFailure:
    return failure(
        "sip", f"twirp error unknown: INVITE failed: sip status: {code}", twirp, 429, code, text
    )


def failure(
    kind: Any,
    server_message: str,
    code: str = "",
    status: int | None = None,
    sip_code: int | None = None,
    sip_text: str | None = None,
) -> LiveKitFailure:
    """As :func:`sipctl.livekit.client.describe` builds it from LiveKit's answer."""
    answered = kind in ("sip", "livekit")
    return LiveKitFailure(
        kind,
        f"test call: LiveKit answered {code}: {server_message}" if answered else server_message,
        code,
        status,
        sip_code,
        sip_text,
        server_message=server_message if answered else "",
    )


def test_answered_in_time_passes() -> None:
    j = judge(call(answer_within="5s"), answered(1.23))
    assert j.verdict is Verdict.PASS
    assert j.cause == "answered in 1.2s"
    assert j.sip_status_code == 200


def test_answered_after_degraded_after_is_degraded() -> None:
    j = judge(call(answer_within="5s", degraded_after="1s"), answered(2.5))
    assert j.verdict is Verdict.DEGRADED
    assert "later than degraded_after 1s" in j.cause
    assert j.verdict.ok


def test_answered_after_answer_within_fails() -> None:
    j = judge(call(answer_within="2s"), answered(2.5))
    assert j.verdict is Verdict.FAIL
    assert j.cause == "answered in 2.5s, later than answer_within 2s"


def test_answered_when_a_rejection_was_expected_fails() -> None:
    j = judge(call(expect={"sip_status": 486}), answered(0.5))
    assert j.verdict is Verdict.FAIL
    assert j.cause == "answered in 0.50s, but expected 486 Busy Here"


def test_expected_rejection_passes() -> None:
    j = judge(call(expect={"sip_status": 486}), failed(sip(486, "Busy Here")))
    assert j.verdict is Verdict.PASS
    assert j.cause == "rejected with 486 Busy Here, as expected"
    assert j.sip_status_code == 486


def test_unexpected_busy_fails() -> None:
    j = judge(call(), failed(sip(486, "Busy Here")))
    assert j.verdict is Verdict.FAIL
    assert j.cause.startswith("486 Busy Here: +15550100001 is busy")
    assert j.reason is Reason.BUSY


def test_other_rejection_than_expected_names_both() -> None:
    j = judge(call(expect={"sip_status": 486}), failed(sip(404, "Not Found", "not_found")))
    assert j.verdict is Verdict.FAIL
    assert j.cause.startswith("404 Not Found: the provider does not know +15550100001")
    assert j.cause.endswith("(expected 486 Busy Here)")
    assert j.reason is Reason.NUMBER


def test_forbidden_points_at_the_trunk_credentials() -> None:
    j = judge(call(), failed(sip(403, "Forbidden", "permission_denied")))
    assert j.verdict is Verdict.FAIL
    assert j.cause.startswith("403 Forbidden: credentials accepted by the provider? IP allow-list?")
    assert "auth.username/auth.password of trunk twilio-us" in j.cause
    assert j.reason is Reason.AUTH


def test_enum_name_status_text_is_replaced_by_the_reason_phrase() -> None:
    assert status_text(400, "SIP_STATUS_BAD_REQUEST") == "400 Bad Request"
    assert status_text(503, "Service Unavailable") == "503 Service Unavailable"
    assert status_text(599) == "599 SIP status"


def test_ringing_timeout_is_no_answer_with_post_dial_delay() -> None:
    err = failure("livekit", "twirp error unknown: sip request timed out", "canceled", 408)
    j = judge(call(ringing_timeout="20s"), failed(err, ringing=1.2))
    assert j.verdict is Verdict.FAIL
    assert j.cause.startswith("no answer within 20s (ringing since 1.2s): nobody picked up")
    assert j.reason is Reason.TIMEOUT


def test_no_answer_that_never_rang_suggests_an_unreachable_address() -> None:
    err = failure("livekit", "twirp error unknown: sip request timed out", "canceled", 408)
    j = judge(call(ringing_timeout="3s"), failed(err))
    assert j.verdict is Verdict.FAIL
    assert j.cause.startswith(
        "no SIP response from the address of trunk twilio-us within 3s (the call never rang): "
    )
    assert j.reason is Reason.UNREACHABLE
    j = judge(call(ringing_timeout="3s"), failed(err), "10.0.0.1:5060")
    assert j.cause.startswith("no SIP response from 10.0.0.1:5060 within 3s")


@pytest.mark.parametrize("expected", [487, 408, 480])
def test_sipctl_stopping_the_ringing_never_meets_an_expected_status(expected: int) -> None:
    """LiveKit's ringing timeout (set from answer_within) cancels the INVITE itself: the
    provider's 408/480/487 never came, so the expectation is not met (issue #13 item 1)."""
    err = failure("livekit", "twirp error unknown: sip request timed out", "canceled", 408)
    j = judge(call(expect={"sip_status": expected}, ringing_timeout="3s"), failed(err, 0.1))
    assert j.verdict is Verdict.FAIL
    assert j.reason is Reason.TIMEOUT
    assert "the provider sent no final status" in j.cause
    assert "rings_out: true" in j.cause


@pytest.mark.parametrize("expected", [{"sip_status": 480}, {"sip_status": 487}, "answered"])
def test_no_sip_response_fails_every_expectation(expected: Any) -> None:
    err = failure("livekit", "twirp error unknown: sip request timed out", "canceled", 408)
    j = judge(call(expect=expected, ringing_timeout="3s"), failed(err), "127.0.0.1:9")
    assert (j.verdict, j.reason) == (Verdict.FAIL, Reason.UNREACHABLE)
    assert j.cause.startswith("no SIP response from 127.0.0.1:9 ")
    j = judge(call(expect={"rings_out": True}, ringing_timeout="3s"), failed(err), "127.0.0.1:9")
    assert (j.verdict, j.reason) == (Verdict.FAIL, Reason.UNREACHABLE)


def test_rings_out_passes_a_number_that_rang_unanswered() -> None:
    err = failure("livekit", "twirp error unknown: sip request timed out", "canceled", 408)
    j = judge(call(expect={"rings_out": True}, ringing_timeout="3s"), failed(err, 0.2))
    assert j.verdict is Verdict.PASS
    assert j.cause == "no answer within 3s (ringing since 0.20s), as expected (rings out)"
    j = judge(call(expect={"rings_out": True}), answered(0.5))
    assert (j.verdict, j.reason) == (Verdict.FAIL, Reason.ANSWERED)
    j = judge(call(expect={"rings_out": True}), failed(sip(486, "Busy Here")))
    assert (j.verdict, j.reason) == (Verdict.FAIL, Reason.BUSY)
    assert j.cause.endswith("(expected it to ring without an answer)")


@pytest.mark.parametrize(
    ("code", "text", "reason"),
    [
        (401, "Unauthorized", Reason.AUTH),
        (407, "Proxy Authentication Required", Reason.AUTH),
        (480, "Temporarily Unavailable", Reason.CAPACITY),
        (503, "Service Unavailable", Reason.CAPACITY),
        (486, "Channel limit reached", Reason.CAPACITY),
        (404, "Not Found", Reason.NUMBER),
        (484, "Address Incomplete", Reason.NUMBER),
        (600, "Busy Everywhere", Reason.BUSY),
        (603, "Decline", Reason.DECLINED),
        (488, "Not Acceptable Here", Reason.MEDIA),
        (500, "Server Internal Error", Reason.REJECTED),
    ],
)
def test_rejections_carry_a_reason(code: int, text: str, reason: Reason) -> None:
    j = judge(call(), failed(sip(code, text)))
    assert (j.verdict, j.reason) == (Verdict.FAIL, reason)


def test_carrier_block_is_blocked() -> None:
    err = failure(
        "sip",
        "twirp error unknown: INVITE blocked by carrier: sip status: 603",
        "permission_denied",
        403,
        603,
        "Decline",
    )
    j = judge(call(), failed(err))
    assert (j.verdict, j.reason) == (Verdict.FAIL, Reason.BLOCKED)
    assert "caller ID" in j.cause


def test_dropped_mid_hold_fails_naming_who_ended_it() -> None:
    rec = answered(0.5)
    rec.hold_started_at = 0.52
    rec.remote_hangup_at = 2.62
    rec.ended_by = "far_end"
    j = judge(call(hold="5s"), rec)
    assert (j.verdict, j.reason) == (Verdict.FAIL, Reason.DROPPED)
    assert (
        j.cause == "dropped after 2.1 s of a 5s hold: the far end hung up (sip.callStatus: hangup)"
    )
    rec.ended_by = "livekit"
    j = judge(call(hold="5s"), rec)
    assert j.cause.startswith("dropped after 2.1 s of a 5s hold: the SIP participant left")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            "canceled",
            "twirp error unknown: transaction failed to complete (0 intermediate responses)",
        ),
        (
            "failed_precondition",
            "twirp error unknown: dial udp 127.0.0.1:9: connect: connection refused",
        ),
        ("invalid_argument", "twirp error unknown: lookup nowhere.invalid: no such host"),
    ],
)
def test_unreachable_provider_is_a_fail(code: str, message: str) -> None:
    j = judge(call(), failed(failure("livekit", message, code, 412)))
    assert j.verdict is Verdict.FAIL
    assert j.cause.startswith("no SIP response from the address of trunk twilio-us (")
    assert j.reason is Reason.UNREACHABLE


def test_repeated_challenges_point_at_credentials() -> None:
    err = failure(
        "livekit",
        "twirp error unknown: max auth retry attempts reached for SIP invite",
        "failed_precondition",
        412,
    )
    j = judge(call(), failed(err))
    assert j.verdict is Verdict.FAIL
    assert "check auth.username/auth.password of trunk twilio-us" in j.cause


def test_missing_live_trunk_is_an_error_telling_to_apply() -> None:
    err = failure("livekit", "requested sip trunk does not exist", "not_found", 404)
    j = judge(call(), failed(err))
    assert j.verdict is Verdict.ERROR
    assert "sipctl apply" in j.cause
    assert not j.retry


def test_livekit_unreachable_is_an_error() -> None:
    err = failure("unreachable", "cannot reach LiveKit at http://127.0.0.1:1: Connection refused")
    j = judge(call(), failed(err))
    assert j.verdict is Verdict.ERROR
    assert j.cause.startswith("cannot reach LiveKit")


def test_refused_credentials_are_an_error_without_retry() -> None:
    j = judge(call(), failed(failure("auth", "", "unknown", 401)))
    assert j.verdict is Verdict.ERROR
    assert "LIVEKIT_API_SECRET" in j.cause
    assert not j.retry


def test_no_sip_service_is_an_error() -> None:
    err = failure("livekit", "twirp error unknown: no response from servers", "unavailable", 503)
    assert judge(call(), failed(err)).verdict is Verdict.ERROR


def test_our_request_timing_out_while_ringing_is_no_answer() -> None:
    rec = failed(failure("timeout", "LiveKit did not answer in time"), ringing=0.4)
    rec.last_status = "ringing"
    j = judge(call(ringing_timeout="3s"), rec)
    assert j.verdict is Verdict.FAIL
    assert j.cause.startswith("no answer within 3s (ringing since 0.40s)")


def test_answered_but_never_active_fails() -> None:
    rec = answered(0.5, active=False)
    rec.last_status = "automation"
    j = judge(call(), rec)
    assert j.verdict is Verdict.FAIL
    assert "never became active (sip.callStatus: automation)" in j.cause


def test_far_end_hangup_during_hold_is_noted_but_passes() -> None:
    rec = answered(0.5)
    rec.remote_hangup_at = 2.6
    j = judge(call(), rec)
    assert j.verdict is Verdict.PASS
    assert "the far end hung up after 2.1s" in j.cause


def test_livekit_ending_the_call_at_its_media_timeout_is_no_media() -> None:
    rec = answered(0.5)
    rec.hold_started_at = 0.52
    rec.remote_hangup_at = 0.5 + 30.2
    rec.ended_by = "livekit"
    j = judge(call(hold="40s"), rec, None, 30.0)
    assert (j.verdict, j.reason) == (Verdict.FAIL, Reason.NO_MEDIA)
    assert j.cause.startswith("the far end sent no audio: LiveKit ended the call 30.2 s after")
    # the same drop seen with the far end's hangup status is the far end's doing
    rec.ended_by = "far_end"
    assert judge(call(hold="40s"), rec, None, 30.0).reason is Reason.DROPPED
    # and one far from the media timeout is a drop
    rec.ended_by = "livekit"
    rec.remote_hangup_at = 0.5 + 12.0
    assert judge(call(hold="40s"), rec, None, 30.0).reason is Reason.DROPPED
