"""SIP failures as livekit-server reports them: Twirp code, psrpc-prefixed msg, SIP meta.

Facts from livekit/protocol (``livekit/sip.go`` sipCodeToGRPCCode, ``SIPStatus.Error``,
``TwirpErrorMeta``; ``utils/xtwirp/errors.go``): the code comes from the SIP status,
the msg is the bridge's error text behind ``twirp error unknown: ``, and meta carries
``sip_status_code``, ``sip_status`` and ``error_details`` = base64 of a serialized
``google.rpc.Status{code, message, details: [Any(livekit.SIPStatus)]}``.
"""

from __future__ import annotations

import base64
from typing import Any, cast

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory
from livekit.protocol import sip as lk_sip

from sipctl.sandbox.errors import PSRPC_PREFIX, TwirpError

# gRPC code numbers by Twirp code name (google.golang.org/grpc/codes)
GRPC_CODE: dict[str, int] = {
    "canceled": 1,
    "unknown": 2,
    "invalid_argument": 3,
    "deadline_exceeded": 4,
    "not_found": 5,
    "already_exists": 6,
    "permission_denied": 7,
    "resource_exhausted": 8,
    "failed_precondition": 9,
    "aborted": 10,
    "out_of_range": 11,
    "unimplemented": 12,
    "internal": 13,
    "unavailable": 14,
    "dataloss": 15,
    "unauthenticated": 16,
}

# SIP final status → Twirp code (livekit/protocol livekit/sip.go sipCodeToGRPCCode)
SIP_TO_TWIRP: dict[int, str] = {
    300: "invalid_argument",
    301: "not_found",
    302: "not_found",
    305: "invalid_argument",
    380: "invalid_argument",
    400: "invalid_argument",
    401: "permission_denied",
    402: "permission_denied",
    403: "permission_denied",
    404: "not_found",
    405: "invalid_argument",
    406: "invalid_argument",
    407: "unauthenticated",
    408: "deadline_exceeded",
    409: "failed_precondition",
    410: "not_found",
    411: "invalid_argument",
    412: "failed_precondition",
    413: "invalid_argument",
    414: "invalid_argument",
    415: "invalid_argument",
    416: "out_of_range",
    417: "invalid_argument",
    420: "invalid_argument",
    421: "invalid_argument",
    422: "invalid_argument",
    423: "invalid_argument",
    424: "invalid_argument",
    425: "invalid_argument",
    428: "unauthenticated",
    429: "invalid_argument",
    430: "invalid_argument",
    433: "permission_denied",
    436: "unauthenticated",
    437: "unauthenticated",
    438: "unauthenticated",
    439: "invalid_argument",
    440: "resource_exhausted",
    469: "invalid_argument",
    470: "permission_denied",
    480: "resource_exhausted",
    481: "not_found",
    482: "failed_precondition",
    483: "failed_precondition",
    484: "invalid_argument",
    485: "invalid_argument",
    486: "resource_exhausted",
    487: "aborted",
    488: "invalid_argument",
    489: "invalid_argument",
    491: "aborted",
    493: "invalid_argument",
    494: "unauthenticated",
    500: "failed_precondition",
    501: "failed_precondition",
    502: "failed_precondition",
    503: "failed_precondition",
    504: "deadline_exceeded",
    505: "invalid_argument",
    513: "invalid_argument",
    600: "resource_exhausted",
    603: "permission_denied",
    604: "not_found",
    606: "invalid_argument",
    607: "permission_denied",
    608: "permission_denied",
}

# Statuses whose text is the response body / X-Twilio-Error / reason and whose
# message says "INVITE failed:" (livekit/sip outbound.go Invite)
INVITE_FAILED_CODES = frozenset({400, 404, 480, 486, 488})


def twirp_code_for_sip(code: int) -> str:
    known = SIP_TO_TWIRP.get(code)
    if known is not None:
        return known
    # SIPStatus.GRPCStatus (protocol livekit/sip.go): an unlisted status maps by class
    if code < 300:
        return "unknown"
    if code < 500:
        return "invalid_argument"
    if code < 600:
        return "failed_precondition"
    if code < 700:
        return "invalid_argument"
    return "unknown"


def status_enum_name(code: int) -> str:
    """``SIP_STATUS_BUSY_HERE``; unknown numbers print as the number (Go proto String)."""
    try:
        return str(lk_sip.SIPStatusCode.Name(code))
    except ValueError:
        return str(code)


def status_short_name(code: int) -> str:
    return status_enum_name(code).removeprefix("SIP_STATUS_")


def sip_status_error_text(code: int, text: str) -> str:
    """``SIPStatus.Error()``: ``sip status: 486: Busy Here`` or ``sip status: 486 (BUSY_HERE)``."""
    if text:
        return f"sip status: {code}: {text}"
    return f"sip status: {code} ({status_short_name(code)})"


def _status_class() -> type[Any]:
    """google.rpc.Status built at run time in a private pool (googleapis protos not needed)."""
    pool = descriptor_pool.DescriptorPool()
    any_file = descriptor_pb2.FileDescriptorProto()
    any_pb2.DESCRIPTOR.CopyToProto(any_file)
    pool.Add(any_file)
    f = descriptor_pb2.FileDescriptorProto(
        name="google/rpc/status.proto",
        package="google.rpc",
        dependency=["google/protobuf/any.proto"],
        syntax="proto3",
    )
    m = f.message_type.add(name="Status")
    lbl = descriptor_pb2.FieldDescriptorProto
    m.field.add(name="code", number=1, type=lbl.TYPE_INT32, label=lbl.LABEL_OPTIONAL)
    m.field.add(name="message", number=2, type=lbl.TYPE_STRING, label=lbl.LABEL_OPTIONAL)
    m.field.add(
        name="details",
        number=3,
        type=lbl.TYPE_MESSAGE,
        label=lbl.LABEL_REPEATED,
        type_name=".google.protobuf.Any",
    )
    pool.Add(f)
    return cast(
        type[Any], message_factory.GetMessageClass(pool.FindMessageTypeByName("google.rpc.Status"))
    )


RpcStatus = _status_class()


def error_details(grpc_code: int, message: str, sip_code: int, sip_text: str) -> str:
    st = RpcStatus(code=grpc_code, message=message)
    # the private pool has its own Any class: fill it in place
    st.details.add(
        type_url="type.googleapis.com/livekit.SIPStatus",
        value=lk_sip.SIPStatus(code=sip_code, status=sip_text).SerializeToString(),  # type: ignore[arg-type]
    )
    return base64.b64encode(st.SerializeToString()).decode()


def decode_error_details(value: str) -> tuple[int, str, list[tuple[str, bytes]]]:
    """Inverse of :func:`error_details` (for tests): (code, message, [(type_url, value)])."""
    st = RpcStatus()
    st.ParseFromString(base64.b64decode(value))
    return int(st.code), str(st.message), [(d.type_url, bytes(d.value)) for d in st.details]


def psrpc_error(code: str, msg: str) -> TwirpError:
    """An error that reached livekit-server over psrpc (no details, so no meta)."""
    return TwirpError(code, PSRPC_PREFIX + msg)


def sip_status_error(prefix: str, sip_code: int, sip_text: str) -> TwirpError:
    """The error for a final SIP status: ``prefix`` is e.g. ``INVITE failed: ``."""
    message = prefix + sip_status_error_text(sip_code, sip_text)
    code = twirp_code_for_sip(sip_code)
    meta = {
        "sip_status_code": str(sip_code),
        "sip_status": sip_text or status_enum_name(sip_code),
        "error_details": error_details(GRPC_CODE[code], message, sip_code, sip_text),
    }
    return TwirpError(code, PSRPC_PREFIX + message, meta)
