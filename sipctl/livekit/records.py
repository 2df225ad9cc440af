"""Plain records of what LiveKit said and what happened on the wire.

They carry no SDK types, so the pure verdict rules (:mod:`sipctl.verdict`) and the tests
build and read them without importing ``livekit.api``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

# sip: the provider's final SIP status came back (LiveKit's error metadata);
# auth: LiveKit refused the API key, secret or grants; unreachable: LiveKit cannot be
# reached at the URL; timeout: no answer in time; malformed: not a LiveKit answer;
# livekit: any other Twirp error; internal: not a LiveKit or network failure (a bug).
FailureKind = Literal["sip", "livekit", "auth", "unreachable", "timeout", "malformed", "internal"]


@dataclass(frozen=True)
class LiveKitFailure:
    """One failed LiveKit request, translated once (:func:`sipctl.livekit.client.describe`).

    ``message`` is the line a user reads (it names the setting to fix, or the request and
    LiveKit's answer); ``server_message`` is LiveKit's own text, for rules that look into
    it (the SIP bridge's errors travel as text).
    """

    kind: FailureKind
    message: str
    code: str = ""  # Twirp code, when LiveKit answered
    http_status: int | None = None
    sip_status_code: int | None = None
    sip_status: str | None = None
    server_message: str = ""
    transient: bool = False  # a retry may succeed

    @property
    def text(self) -> str:
        """LiveKit's own words when it answered, else the translated line."""
        return self.server_message or self.message


@dataclass
class CallRecord:
    """What happened on the wire; times are seconds since the request was sent."""

    room: str
    identity: str
    started_at: float = field(default_factory=time.time)  # epoch, for reports
    ringing_at: float | None = None  # first seen sip.callStatus=ringing
    answered_at: float | None = None  # CreateSIPParticipant returned
    active_at: float | None = None  # first seen sip.callStatus=active
    ended_at: float | None = None  # we hung up (or found the call gone)
    remote_hangup_at: float | None = None  # the call ended on its own after the answer
    # who ended it, as far as LiveKit tells: "far_end" when sip.callStatus turned hangup
    # (the provider's BYE), "livekit" when the participant left without that status
    ended_by: Literal["far_end", "livekit"] | None = None
    hold_started_at: float | None = None  # the hold began (the call was seen active)
    last_status: str | None = None
    statuses: list[tuple[float, str]] = field(default_factory=list)
    error: LiveKitFailure | None = None
    participant_id: str = ""
    sip_call_id: str = ""
    cleanup_error: str | None = None
    cancelled: bool = False
    poll_error: str | None = None  # the last failed status poll (RoomService), if any

    @property
    def answered(self) -> bool:
        return self.answered_at is not None
