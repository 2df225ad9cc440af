"""An inbound test call on the wire: dial out, watch the call come back in, clean up.

The outbound leg is placed without waiting for an answer: LiveKit keeps an inbound call
ringing until someone in the room subscribes to it (livekit/sip ``pkg/sip/inbound.go``,
``waitSubscribe``), so the leg is never answered by itself. The inbound SIP participant is
recognised by the attributes LiveKit gives it (``EvaluateDispatchRule`` in livekit/protocol
``sip/sip.go``): ``sip.trunkPhoneNumber`` is the dialled number and ``sip.phoneNumber`` the
caller, or, under ``hide_phone_number``, by the identity derived from the caller. Then the
outbound leg is hung up and both rooms are deleted, on every path; the inbound room only
when nobody else is in it (a direct rule's room may be a live one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from livekit.api import (
    DeleteRoomRequest,
    ListParticipantsRequest,
    ListRoomsRequest,
    LiveKitAPI,
    RoomParticipantIdentity,
    ServerError,
)
from livekit.protocol.models import ParticipantInfo

from sipctl.live import LiveState
from sipctl.livekit.calls import (
    ProbeSpec,
    build_request,
    cleanup,
    foreign_answer,
    uncancellable,
)
from sipctl.livekit.client import NO_ANSWER, ConnectionLike, describe
from sipctl.livekit.records import LiveKitFailure
from sipctl.livekit.state import build_state, list_dispatch, list_inbound
from sipctl.numbers import normalize_number
from sipctl.route import hidden_identity

log = logging.getLogger(__name__)

POLL = 0.25  # seconds between looks at the rooms
# After the outbound leg is hung up, a call already on its way in may still land.
SETTLE = 1.0
# what a failed look at the rooms raises: it costs one sample, never the verdict
_LOOK_ERRORS = (ServerError, *NO_ANSWER)


@dataclass
class ArrivalRecord:
    """What the probe saw. Times are seconds from the dial."""

    probe_room: str
    error: LiveKitFailure | None = None  # LiveKit refused the outbound leg
    arrived_at: float | None = None
    room: str | None = None
    identity: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    # agent names dispatched to the room (AgentDispatchService ListDispatch); None: unknown
    dispatched: list[str] | None = None
    dispatch_error: str | None = None  # why they are unknown
    cleanup_error: str | None = None
    looked: int = 0  # listings of the rooms that LiveKit answered
    look_error: str | None = None  # why the last listing failed, if one did


def is_arrival(p: ParticipantInfo, to: str, caller: str) -> bool:
    attrs = p.attributes
    if "sip.trunkID" not in attrs:
        return False
    if "sip.trunkPhoneNumber" in attrs:
        return normalize_number(attrs["sip.trunkPhoneNumber"]) == normalize_number(
            to
        ) and normalize_number(attrs.get("sip.phoneNumber", "")) == normalize_number(caller)
    # hide_phone_number: no numbers in the attributes, the identity hashes the caller
    return bool(p.identity == hidden_identity(caller))


async def _find(api: LiveKitAPI, probe_room: str, to: str, caller: str) -> Any:
    for room in (await api.room.list_rooms(ListRoomsRequest())).rooms:
        if room.name == probe_room:
            continue
        try:
            resp = await api.room.list_participants(ListParticipantsRequest(room=room.name))
        except ServerError as exc:
            if exc.code == "not_found":  # deleted meanwhile
                continue
            raise
        for p in resp.participants:
            if is_arrival(p, to, caller):
                return room.name, p
    return None


async def _read_dispatches(
    api: LiveKitAPI, conn: ConnectionLike, record: ArrivalRecord, room: str
) -> None:
    """The agents dispatched to ``room``, the call's (a rule's room_config dispatches them)."""
    try:
        found = await api.agent_dispatch.list_dispatch(room_name=room)
    except _LOOK_ERRORS as exc:
        record.dispatch_error = describe(exc, conn, "ListDispatch").message
        log.debug("listing the agent dispatches of %s failed: %s", room, record.dispatch_error)
        return
    record.dispatched = [d.agent_name for d in found]


async def read_routing(api: LiveKitAPI, conn: ConnectionLike) -> LiveState:
    """The live inbound trunks and dispatch rules (to name what a call took)."""
    inbound, rules = await asyncio.gather(list_inbound(api, conn), list_dispatch(api, conn))
    return build_state([], inbound, rules)


async def place_and_watch(
    api: LiveKitAPI,
    conn: ConnectionLike,
    spec: ProbeSpec,
    *,
    caller: str,
    within: float,
) -> ArrivalRecord:
    """Dial ``spec`` and watch for it to come back in as a call from ``caller`` to
    ``spec.to``, for at most ``within`` seconds; then hang up and clean up."""
    record = ArrivalRecord(probe_room=spec.room)
    t0 = time.monotonic()
    try:
        try:
            info = await api.sip.create_sip_participant(
                # ring a little past the arrival window: long enough, and never forever
                build_request(spec, wait=False, ringing=within + 5),
                timeout=within + 5,
            )
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            failure = describe(exc, conn, "inbound test call")
            if failure.kind == "internal":
                raise
            record.error = failure
            return record
        record.error = foreign_answer(info, spec, conn, "inbound test call")
        if record.error is not None:
            return record
        while time.monotonic() - t0 < within:
            try:
                found = await _find(api, spec.room, spec.to, caller)
                record.looked += 1
            except _LOOK_ERRORS as exc:  # judged only if no look was answered
                record.look_error = describe(exc, conn, "listing the rooms").message
                log.debug("looking for %s failed: %s", spec.to, record.look_error)
                found = None
            if found is not None:
                record.arrived_at = time.monotonic() - t0
                record.room, p = found
                record.identity = p.identity
                record.attributes = dict(p.attributes)
                await _read_dispatches(api, conn, record, record.room)
                break
            await asyncio.sleep(POLL)
        return record
    finally:
        record.cleanup_error = await uncancellable(_clean(api, conn, spec, record, caller))


async def _clean(
    api: LiveKitAPI, conn: ConnectionLike, spec: ProbeSpec, record: ArrivalRecord, caller: str
) -> str | None:
    problem = await cleanup(api, conn, spec.room, spec.identity)
    if record.room is None and record.error is None:
        # hung up before it arrived: it may still land on its way in
        await asyncio.sleep(SETTLE)
        with contextlib.suppress(*_LOOK_ERRORS):
            found = await _find(api, spec.room, spec.to, caller)
            if found is not None:
                record.room, p = found
                record.identity = p.identity
    if record.room is not None and record.identity is not None:
        problem = problem or await _clean_inbound(api, conn, record.room, record.identity)
    return problem


async def _clean_inbound(
    api: LiveKitAPI, conn: ConnectionLike, room: str, identity: str
) -> str | None:
    """Hang the inbound call up; delete its room unless others (not agents) are in it."""
    try:
        with contextlib.suppress(ServerError):
            await api.room.remove_participant(RoomParticipantIdentity(room=room, identity=identity))
        try:
            left = (
                await api.room.list_participants(ListParticipantsRequest(room=room))
            ).participants
        except ServerError as exc:
            if exc.code == "not_found":
                return None
            raise
        others = [
            p for p in left if p.identity != identity and p.kind != ParticipantInfo.Kind.AGENT
        ]
        if others:
            log.info("left room %s: %d other participants are in it", room, len(others))
            return None
        with contextlib.suppress(ServerError):
            await api.room.delete_room(DeleteRoomRequest(room=room))
    except Exception as exc:
        return f"could not clean up room {room}: {describe(exc, conn, 'DeleteRoom').message}"
    return None
