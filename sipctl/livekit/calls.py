"""Place one SIP call through LiveKit and follow it: the wire side of a test call.

This is the only code that places calls and reads rooms. :func:`place_call` sends
``CreateSIPParticipant`` with ``wait_until_answered`` (only then does a failure carry its
SIP status), polls the participant's ``sip.callStatus`` through RoomService while that
request waits (to time the post-dial delay), holds the answered call, then hangs up
(RemoveParticipant) and deletes the room. Cleanup always runs: on failure, on timeout and
on cancellation (Ctrl-C, SIGTERM). What happened is returned as a :class:`CallRecord`; the
verdict is :mod:`sipctl.verdict`'s business.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from livekit.api import (
    CreateSIPParticipantRequest,
    DeleteRoomRequest,
    ListParticipantsRequest,
    LiveKitAPI,
    RoomParticipantIdentity,
    ServerError,
    SIPParticipantInfo,
)

from sipctl.livekit.client import NO_ANSWER, PROXY_HINT, ConnectionLike, describe
from sipctl.livekit.records import CallRecord, LiveKitFailure
from sipctl.livekit.state import list_outbound
from sipctl.ownership import parse_metadata

log = logging.getLogger(__name__)

T = TypeVar("T")

# The bridge reports these in the participant attribute sip.callStatus (outbound calls).
DIALING, RINGING, AUTOMATION = "dialing", "ringing", "automation"
ACTIVE, HANGUP = "active", "hangup"
# Added to max_call_duration: LiveKit may count it from the INVITE, so it covers ringing
# and DTMF as well as the hold, with room to hang up ourselves first.
MAX_DURATION_MARGIN = 10.0
# The HTTP request may take the ring window plus this before we give up on LiveKit.
REQUEST_MARGIN = 5.0
# Seconds each DTMF 'w' pauses, and a generous per-digit time (RFC 2833 events).
DTMF_PAUSE, DTMF_DIGIT = 0.5, 0.25


@dataclass
class ProbeSpec:
    """What to dial, and how."""

    trunk_id: str
    to: str
    room: str
    identity: str
    from_number: str = ""  # empty: LiveKit picks one of the trunk's numbers
    ringing_timeout: float = 30.0
    hold: float = 2.0
    dtmf: str = ""
    participant_name: str = "sipctl probe"
    attributes: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # X- headers on the INVITE

    @property
    def dtmf_time(self) -> float:
        return sum(DTMF_PAUSE if c == "w" else DTMF_DIGIT for c in self.dtmf)

    @property
    def max_call_duration(self) -> float:
        return self.ringing_timeout + self.dtmf_time + self.hold + MAX_DURATION_MARGIN

    @property
    def request_timeout(self) -> float:
        return self.ringing_timeout + self.dtmf_time + REQUEST_MARGIN


StatusCallback = Callable[[str, float], None]


@dataclass(frozen=True)
class PollTiming:
    """How often RoomService is asked about the participant."""

    dialing: float = 0.1  # while the request waits: the post-dial delay resolution
    slow_after: float = 2.0  # after this long ringing, poll less often
    ringing_slow: float = 0.25
    holding: float = 0.25  # during the hold, to notice a remote hang-up
    active_wait: float = 5.0  # after answer, how long sip.callStatus may take to say active
    settle: float = 2.0  # after an interrupted request, how long the bridge may still join
    cleanup_budget: float = 15.0


def room_name(prefix: str, call: str) -> str:
    """``<prefix>-<call>-<random>``, with the call name reduced to safe characters."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", call).strip("-") or "call"
    return f"{prefix}-{safe}-{secrets.token_hex(4)}"


def probe_identity(call: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", call).strip("-") or "call"
    return f"sipctl-probe-{safe}"


# --- trunks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrunkRef:
    """A live outbound trunk as a probe needs it: its id and the address LiveKit dials."""

    id: str
    address: str


async def managed_trunks(
    api: LiveKitAPI, conn: ConnectionLike
) -> tuple[dict[str, list[TrunkRef]], dict[str, list[TrunkRef]]]:
    """Live outbound trunks by name: (managed by sipctl, not managed)."""
    managed: dict[str, list[TrunkRef]] = {}
    other: dict[str, list[TrunkRef]] = {}
    for t in await list_outbound(api, conn):
        target = managed if parse_metadata(t.metadata).marker is not None else other
        target.setdefault(t.name, []).append(TrunkRef(t.sip_trunk_id, t.address))
    return managed, other


# --- the call -----------------------------------------------------------------------------


def build_request(spec: ProbeSpec, *, wait: bool = True, ringing: float | None = None) -> Any:
    """The CreateSIPParticipant request of a probe. ``wait``: answer-waited (outbound
    probes); without it, an inbound probe's outbound leg that only has to ring
    (``ringing`` seconds) until the call arrives."""
    req = CreateSIPParticipantRequest(
        sip_trunk_id=spec.trunk_id,
        sip_call_to=spec.to,
        sip_number=spec.from_number,
        room_name=spec.room,
        participant_identity=spec.identity,
        participant_name=spec.participant_name,
        participant_attributes=spec.attributes,
        headers=spec.headers,
        wait_until_answered=wait,
    )
    if wait:
        req.dtmf = spec.dtmf
        req.max_call_duration.FromTimedelta(timedelta(seconds=spec.max_call_duration))
    seconds = spec.ringing_timeout if ringing is None else ringing
    req.ringing_timeout.FromTimedelta(timedelta(seconds=seconds))
    return req


class _Follower:
    """Polls the participant's sip.callStatus and notes when things happen."""

    def __init__(
        self,
        api: LiveKitAPI,
        conn: ConnectionLike,
        record: CallRecord,
        t0: float,
        timing: PollTiming,
        on_status: StatusCallback | None,
    ) -> None:
        self.api = api
        self.conn = conn
        self.record = record
        self.t0 = t0
        self.timing = timing
        self.on_status = on_status
        self.seen = False  # the participant was in the room at least once
        self.gone = asyncio.Event()  # ... and has left since
        self.changed = asyncio.Event()
        self.holding = False

    def now(self) -> float:
        return time.monotonic() - self.t0

    async def poll_once(self) -> None:
        try:
            p = await self.api.room.get_participant(
                RoomParticipantIdentity(room=self.record.room, identity=self.record.identity)
            )
        except ServerError as exc:
            # Gone after it was seen, or after the answer (it was in the room then): a
            # provider that hangs up at once can end the call before the first poll.
            seen = self.seen or self.record.answered
            if exc.code == "not_found":
                if seen and not self.gone.is_set():
                    self._left()
                return
            self._failed(exc)
            return
        except NO_ANSWER as exc:
            # a failed poll costs one sample; the call request decides the outcome
            self._failed(exc)
            return
        if p.identity != self.record.identity:
            # LiveKit answers with the participant asked for (livekit/livekit
            # pkg/service/roomservice.go GetParticipant); anything else, an empty body
            # included, says nothing about this call
            self._failed(_not_this_call("GetParticipant", self.conn, "participant", p.identity))
            return
        self.seen = True
        if not self.record.participant_id:
            self.record.participant_id = p.sid
        status = p.attributes.get("sip.callStatus", "")
        if status and status != self.record.last_status:
            t = self.now()
            self.record.last_status = status
            self.record.statuses.append((t, status))
            if status == RINGING and self.record.ringing_at is None:
                self.record.ringing_at = t
            if status == ACTIVE and self.record.active_at is None:
                self.record.active_at = t
            if status == HANGUP and self.record.answered and self.record.remote_hangup_at is None:
                # the bridge sets hangup on the provider's BYE (livekit/sip
                # participant.go CallHangup; outbound.go close -> setStatus)
                self.record.remote_hangup_at = t
                self.record.ended_by = "far_end"
                self.gone.set()
            self.changed.set()
            if self.on_status is not None:
                self.on_status(status, t)

    def _failed(self, why: BaseException | str) -> None:
        """One poll without a usable answer: ``why`` is what was raised, or the line."""
        text = why if isinstance(why, str) else describe(why, self.conn, "GetParticipant").message
        log.debug("poll of %s failed: %s", self.record.room, text)
        self.record.poll_error = text

    def _left(self) -> None:
        if self.record.answered and self.record.remote_hangup_at is None:
            self.record.remote_hangup_at = self.now()
            # A media timeout ends the call without the hangup status (livekit/sip
            # outbound.go closeWithTimeout: callDropped has no attribute); so does a BYE
            # whose status the polls missed.
            self.record.ended_by = "far_end" if self.record.last_status == HANGUP else "livekit"
        self.gone.set()
        self.changed.set()

    async def run(self) -> None:
        while True:
            await self.poll_once()
            if self.holding:
                delay = self.timing.holding
            elif self.record.ringing_at is not None and self.now() > self.timing.slow_after:
                delay = self.timing.ringing_slow
            else:
                delay = self.timing.dialing
            await asyncio.sleep(delay)


async def place_call(
    api: LiveKitAPI,
    spec: ProbeSpec,
    *,
    conn: ConnectionLike,
    on_status: StatusCallback | None = None,
    timing: PollTiming | None = None,
) -> CallRecord:
    """Dial ``spec``, follow it, hold it, hang up and clean up. Never leaves a call up.

    SIP and LiveKit failures end up in ``record.error``; cancellation is re-raised after
    the cleanup ran. Anything unexpected propagates (also after the cleanup).
    """
    timing = timing or PollTiming()
    record = CallRecord(room=spec.room, identity=spec.identity)
    t0 = time.monotonic()
    follower = _Follower(api, conn, record, t0, timing, on_status)
    poller = asyncio.create_task(follower.run(), name=f"poll {spec.room}")
    in_flight = False
    try:
        in_flight = True
        try:
            info = await api.sip.create_sip_participant(
                build_request(spec), timeout=spec.request_timeout
            )
        except (asyncio.CancelledError, KeyboardInterrupt):
            record.cancelled = True
            raise
        except Exception as exc:
            in_flight = isinstance(exc, TimeoutError)  # LiveKit may still be dialing
            failure = describe(exc, conn, "test call")
            if failure.kind == "internal":
                raise  # a bug, not a verdict (the cleanup below still runs)
            record.error = failure
            return record
        record.error = foreign_answer(info, spec, conn, "test call")
        if record.error is not None:
            return record
        in_flight = False
        record.answered_at = follower.now()
        record.participant_id = info.participant_id or record.participant_id
        record.sip_call_id = info.sip_call_id
        await _await_active(follower, timing)
        if record.active_at is not None and not follower.gone.is_set():
            follower.holding = True
            record.hold_started_at = follower.now()
            with contextlib.suppress(TimeoutError):
                # the hold ends early when the far end hangs up
                await asyncio.wait_for(follower.gone.wait(), spec.hold)
        return record
    except (asyncio.CancelledError, KeyboardInterrupt):
        record.cancelled = True
        raise
    finally:
        poller.cancel()
        try:
            await poller
        except asyncio.CancelledError:
            pass
        except Exception:  # the cleanup below must run whatever the poller did
            log.debug("status poller of %s failed", spec.room, exc_info=True)
        if record.ended_at is None:
            record.ended_at = follower.now()
        settle = timing.settle if in_flight and not follower.seen else 0.0
        record.cleanup_error = await uncancellable(
            cleanup(
                api, conn, spec.room, spec.identity, settle=settle, budget=timing.cleanup_budget
            )
        )


def foreign_answer(
    info: SIPParticipantInfo, spec: ProbeSpec, conn: ConnectionLike, what: str
) -> LiveKitFailure | None:
    """The failure when CreateSIPParticipant's answer is not about ``spec``'s call.

    LiveKit's answer names the request's room (livekit/livekit pkg/service/sip.go
    CreateSIPParticipant); one that does not, an empty body included, says nothing of the
    call, which may or may not have been placed."""
    if info.room_name == spec.room:
        return None
    text = _not_this_call(what, conn, "room", info.room_name)
    return LiveKitFailure("malformed", text, "malformed")


def _not_this_call(what: str, conn: ConnectionLike, field: str, got: str) -> str:
    named = f"another {field} ({got!r})" if got else f"no {field}"
    return (
        f"{what}: LiveKit at {conn.url} answered about {named}, not about this call " + PROXY_HINT
    )


async def _await_active(follower: _Follower, timing: PollTiming) -> None:
    """Right after the answer the status may still say ringing/automation for a moment."""
    deadline = time.monotonic() + timing.active_wait
    while follower.record.active_at is None and not follower.gone.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        follower.changed.clear()
        await follower.poll_once()
        if follower.record.active_at is not None or follower.gone.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(follower.changed.wait(), min(timing.dialing, remaining))


async def cleanup(
    api: LiveKitAPI,
    conn: ConnectionLike,
    room: str,
    identity: str,
    *,
    settle: float = 0.0,
    budget: float = 15.0,
) -> str | None:
    """Hang up (RemoveParticipant) and delete the room; None when done, else why not.

    ``settle``: the request was cut off before the participant was ever seen, so the bridge
    may still join; watch the room that long and clean up again if it does.
    """
    try:
        async with asyncio.timeout(budget):
            await _remove_and_delete(api, conn, room, identity)
            deadline = time.monotonic() + settle
            while time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                if await _room_has_participants(api, room):
                    await _remove_and_delete(api, conn, room, identity)
    except TimeoutError:
        return f"could not clean up room {room} within {budget:g}s"
    except Exception as exc:
        return f"could not clean up room {room}: {describe(exc, conn, 'DeleteRoom').message}"
    return None


CLEANUP_ATTEMPTS = 3


async def _remove_and_delete(
    api: LiveKitAPI, conn: ConnectionLike, room: str, identity: str
) -> None:
    """Hang up, then delete the room (which hangs up whoever is left, so a failed hang-up
    does not stop it); a failed deletion is tried again, then raised."""
    for attempt in range(CLEANUP_ATTEMPTS):
        try:
            # Hang up first, so the bridge sends BYE (or CANCEL) before the room goes away.
            await _ignore_not_found(
                api.room.remove_participant(RoomParticipantIdentity(room=room, identity=identity))
            )
        except Exception as exc:
            text = describe(exc, conn, "RemoveParticipant").message
            log.debug("hanging up %s in %s failed: %s", identity, room, text)
        try:
            await _ignore_not_found(api.room.delete_room(DeleteRoomRequest(room=room)))
            return
        except Exception as exc:
            if attempt + 1 >= CLEANUP_ATTEMPTS:
                raise
            text = describe(exc, conn, "DeleteRoom").message
            log.debug("deleting room %s failed (%s); again", room, text)
            await asyncio.sleep(0.2 * 2**attempt)


async def _room_has_participants(api: LiveKitAPI, room: str) -> bool:
    try:
        resp = await api.room.list_participants(ListParticipantsRequest(room=room))
    except ServerError as exc:
        if exc.code == "not_found":
            return False
        raise
    return len(resp.participants) > 0


async def _ignore_not_found(aw: Awaitable[Any]) -> None:
    try:
        await aw
    except ServerError as exc:
        if exc.code != "not_found":
            raise


async def uncancellable(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to its end even if the caller is cancelled meanwhile, then re-raise.

    Cleanup must finish on Ctrl-C; ``coro`` bounds its own time.
    """
    task = asyncio.ensure_future(coro)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                raise
            cancelled = True
            continue
        if cancelled:
            raise asyncio.CancelledError
        return result
