"""The sandbox's SIP user agent: a small asyncio UAC for outbound calls (stdlib only).

Modules, bottom up: :mod:`.message` (parse/serialise), :mod:`.digest` (RFC 2617/8760),
:mod:`.transport` (UDP, TCP), :mod:`.transaction` (RFC 3261 §17 client transactions),
:mod:`.dialog` (§12), :mod:`.sdp`, :mod:`.rtp` (silence + RFC 4733 DTMF), :mod:`.uac`
(one outbound call) and :mod:`.status` (failures as livekit-server reports them).
"""

from sipctl.sandbox.sip.transaction import Timers
from sipctl.sandbox.sip.uac import (
    AuthFailed,
    Call,
    CallCanceled,
    CallError,
    CallProtocolError,
    CallSpec,
    CallTransportError,
    InviteRejected,
    MediaError,
    NoFinalResponse,
    ResolveError,
)

__all__ = [
    "AuthFailed",
    "Call",
    "CallCanceled",
    "CallError",
    "CallProtocolError",
    "CallSpec",
    "CallTransportError",
    "InviteRejected",
    "MediaError",
    "NoFinalResponse",
    "ResolveError",
    "Timers",
]
