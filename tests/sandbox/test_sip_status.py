"""Failed INVITE → Twirp error, row by row of the reference's §5.6 table."""

from __future__ import annotations

import base64
import logging

import pytest
from livekit.protocol.sip import SIPStatus

from sipctl.sandbox.bridge import Bridge
from sipctl.sandbox.rooms import RoomRegistry
from sipctl.sandbox.sip.message import Headers, Response
from sipctl.sandbox.sip.status import (
    GRPC_CODE,
    decode_error_details,
    sip_status_error_text,
    twirp_code_for_sip,
)
from sipctl.sandbox.sip.uac import (
    AuthFailed,
    CallCanceled,
    CallProtocolError,
    InviteRejected,
    MediaError,
    NoFinalResponse,
    ResolveError,
)

BRIDGE = Bridge(RoomRegistry(), "127.0.0.1", logging.getLogger("test"))
PFX = "twirp error unknown: "


def rejected(status: int, reason: str, body: bytes = b"", **headers: str) -> InviteRejected:
    h = Headers(headers.items())
    return InviteRejected(Response(headers=h, body=body, status=status, reason=reason))


@pytest.mark.parametrize(
    ("status", "reason", "code", "http", "kind"),
    [
        (400, "Bad Request", "invalid_argument", 400, "INVITE failed"),
        (403, "Forbidden", "permission_denied", 403, "unexpected status from INVITE response"),
        (404, "Not Found", "not_found", 404, "INVITE failed"),
        (
            408,
            "Request Timeout",
            "deadline_exceeded",
            408,
            "unexpected status from INVITE response",
        ),
        (480, "Temporarily Unavailable", "resource_exhausted", 429, "INVITE failed"),
        (
            484,
            "Address Incomplete",
            "invalid_argument",
            400,
            "unexpected status from INVITE response",
        ),
        (486, "Busy Here", "resource_exhausted", 429, "INVITE failed"),
        (487, "Request Terminated", "aborted", 409, "unexpected status from INVITE response"),
        (488, "Not Acceptable Here", "invalid_argument", 400, "INVITE failed"),
        (
            500,
            "Server Internal Error",
            "failed_precondition",
            412,
            "unexpected status from INVITE response",
        ),
        (
            503,
            "Service Unavailable",
            "failed_precondition",
            412,
            "unexpected status from INVITE response",
        ),
        (
            504,
            "Server Time-out",
            "deadline_exceeded",
            408,
            "unexpected status from INVITE response",
        ),
        (
            600,
            "Busy Everywhere",
            "resource_exhausted",
            429,
            "unexpected status from INVITE response",
        ),
        (603, "Decline", "permission_denied", 403, "unexpected status from INVITE response"),
        (
            604,
            "Does Not Exist Anywhere",
            "not_found",
            404,
            "unexpected status from INVITE response",
        ),
        (607, "Unwanted", "permission_denied", 403, "unexpected status from INVITE response"),
        (499, "Odd", "invalid_argument", 400, "unexpected status from INVITE response"),
        # livekit/sip.go SIPStatus.GRPCStatus: an unlisted 5xx is failed_precondition
        (599, "Odd", "failed_precondition", 412, "unexpected status from INVITE response"),
        (509, "Odd", "failed_precondition", 412, "unexpected status from INVITE response"),
        (699, "Odd", "invalid_argument", 400, "unexpected status from INVITE response"),
    ],
)
def test_status_rows(status: int, reason: str, code: str, http: int, kind: str) -> None:
    err = BRIDGE._invite_error(rejected(status, reason))
    msg = f"{kind}: sip status: {status}: {reason}"
    assert (err.code, err.http_status, err.msg) == (code, http, PFX + msg)
    assert err.meta["sip_status_code"] == str(status)
    assert err.meta["sip_status"] == reason
    grpc, message, details = decode_error_details(err.meta["error_details"])
    assert message == msg and grpc == GRPC_CODE[code]
    assert details[0][0] == "type.googleapis.com/livekit.SIPStatus"
    st = SIPStatus.FromString(details[0][1])
    assert (int(st.code), st.status) == (status, reason)
    base64.b64decode(err.meta["error_details"], validate=True)


def test_status_text_prefers_body_then_twilio_header() -> None:
    body = BRIDGE._invite_error(rejected(486, "Busy Here", b"line busy"))
    assert body.msg == PFX + "INVITE failed: sip status: 486: line busy"
    assert body.meta["sip_status"] == "line busy"
    twilio = BRIDGE._invite_error(rejected(404, "Not Found", **{"X-Twilio-Error": "13224 bad"}))
    assert twilio.meta["sip_status"] == "13224 bad"
    # only the INVITE-failed codes look at the body
    other = BRIDGE._invite_error(rejected(503, "Service Unavailable", b"ignored"))
    assert other.meta["sip_status"] == "Service Unavailable"


def test_empty_reason_uses_enum_names() -> None:
    err = BRIDGE._invite_error(rejected(400, ""))
    assert err.msg == PFX + "INVITE failed: sip status: 400 (BAD_REQUEST)"
    assert err.meta["sip_status"] == "SIP_STATUS_BAD_REQUEST"
    assert sip_status_error_text(499, "") == "sip status: 499 (499)"


def test_carrier_block() -> None:
    # livekit/sip errors.go carrierBlockFromResponse + carrierBlockedError.Error: any
    # final status, the SIPStatus (code, bare text) kept, the provider code in the text
    err = BRIDGE._invite_error(rejected(603, "Decline", **{"X-Twilio-Error": "32203 blocked"}))
    assert err.code == "permission_denied"
    assert err.msg == PFX + (
        "INVITE blocked by carrier: carrier blocked call (twilio error 32203): "
        "sip status: 603: Decline"
    )
    assert err.meta["sip_status"] == "Decline"
    busy = BRIDGE._invite_error(rejected(503, "Service Unavailable", **{"X-Twilio-Error": "32203"}))
    assert busy.code == "failed_precondition"
    assert busy.msg == PFX + (
        "INVITE blocked by carrier: carrier blocked call (twilio error 32203): "
        "sip status: 503: Service Unavailable"
    )
    other = BRIDGE._invite_error(rejected(603, "Decline", **{"X-Twilio-Error": "13224 x"}))
    assert "carrier" not in other.msg


@pytest.mark.parametrize(
    ("exc", "code", "msg"),
    [
        (CallCanceled("x"), "canceled", "sip request timed out"),
        (
            NoFinalResponse(2),
            "canceled",
            "transaction failed to complete (2 intermediate responses)",
        ),
        (
            AuthFailed("missing_creds"),
            "failed_precondition",
            "sip server required auth, but no username or password was provided",
        ),
        (AuthFailed("no_header"), "failed_precondition", "no auth header in sip invite response"),
        (
            AuthFailed("max_retry"),
            "failed_precondition",
            "max auth retry attempts reached for SIP invite",
        ),
        (ResolveError("lookup x: no such host"), "invalid_argument", "lookup x: no such host"),
        (
            CallProtocolError("no tag in To header in INVITE response"),
            "failed_precondition",
            "no tag in To header in INVITE response",
        ),
        (
            MediaError("common audio codec not found"),
            "failed_precondition",
            "common audio codec not found",
        ),
    ],
)
def test_non_sip_failures_have_no_meta(exc: Exception, code: str, msg: str) -> None:
    err = BRIDGE._invite_error(exc)  # type: ignore[arg-type]
    assert (err.code, err.msg, err.meta) == (code, PFX + msg, {})


def test_unlisted_codes_fall_back() -> None:
    assert twirp_code_for_sip(199) == "unknown"
    assert twirp_code_for_sip(420) == "invalid_argument"
