"""Rooms and participants of the sandbox: what RoomService reads and the SIP bridge writes.

The SIP bridge (``sipctl.sandbox.bridge``) joins a participant per call, updates its
``sip.*`` attributes as the call progresses and removes it when the call ends. RoomService
handlers read from here and, to hang up, call :meth:`RoomRegistry.remove_participant`, which
runs the participant's ``on_remove`` hook (the bridge sends BYE or CANCEL there).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import string
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from livekit.protocol import agent_dispatch, models

_BASE57 = "".join(c for c in string.ascii_letters + string.digits if c not in "0OIl1")


def sip_participant(
    identity: str, name: str, metadata: str, attributes: dict[str, str]
) -> Participant:
    """The SIP bridge's participant as LiveKit shows it: it joins with publish, subscribe
    and data permissions, publishes one audio track named after its identity before it
    dials (livekit/sip pkg/sip/room.go NewParticipantTrack, outbound.go/inbound.go
    publishTrack) and is ACTIVE once connected."""
    return Participant(
        sid=new_id("PA_"),
        identity=identity,
        name=name,
        metadata=metadata,
        kind=models.ParticipantInfo.Kind.SIP,
        attributes=attributes,
        state=models.ParticipantInfo.State.ACTIVE,
        published=[
            models.TrackInfo(
                sid=new_id("TR_"),
                type=models.TrackType.AUDIO,
                name=identity,
                source=models.TrackSource.MICROPHONE,
                mime_type="audio/opus",
            )
        ],
        permission=models.ParticipantPermission(
            can_publish=True, can_subscribe=True, can_publish_data=True
        ),
    )


def new_id(prefix: str) -> str:
    """LiveKit GUID: prefix + 12 base57 characters (protocol utils/guid)."""
    return prefix + "".join(secrets.choice(_BASE57) for _ in range(12))


_BASE62 = string.ascii_uppercase + string.ascii_lowercase + string.digits


def hashed_id(value: str) -> str:
    """protocol utils/guid HashedID: SHA-1, then jxskiss/base62's encoding (encodeV2:
    6-bit groups from the end, a group whose bits 1-4 are set takes 5 bits)."""
    src = hashlib.sha1(value.encode()).digest()
    pos = len(src) * 8
    out = []
    while pos > 0:
        size = 6
        r, i = pos & 7, pos >> 3
        if r == 0:
            i, r = i - 1, 8
        b = src[i] >> (8 - r)
        if r < 6 and i > 0:
            b |= src[i - 1] << r
        b &= 0x3F
        if b & 0x1E == 0x1E:
            if pos > 6 or b > 0x1F:
                size = 5
            b &= 0x1F
        out.append(_BASE62[b])
        pos -= size
    return "".join(out)


RemoveHook = Callable[[], Awaitable[None]]


@dataclass
class Participant:
    sid: str
    identity: str
    name: str = ""
    metadata: str = ""
    kind: int = models.ParticipantInfo.Kind.STANDARD
    attributes: dict[str, str] = field(default_factory=dict)
    joined_at: float = field(default_factory=time.time)
    state: int = models.ParticipantInfo.State.JOINED
    # Called (once) when the participant is removed through the API or room deletion.
    on_remove: RemoveHook | None = None
    # what RoomService shows of a SIP bridge participant (its published audio track and
    # join permission); the real-time hub (sipctl.sandbox.rtc) keeps its own track list
    published: list[models.TrackInfo] = field(default_factory=list)
    permission: models.ParticipantPermission | None = None

    def to_service_proto(self) -> models.ParticipantInfo:
        """ParticipantInfo as RoomService lists it: with tracks, permission, is_publisher."""
        info = self.to_proto()
        info.tracks.extend(self.published)
        if self.permission is not None:
            info.permission.CopyFrom(self.permission)
        info.is_publisher = bool(self.published)
        return info

    def to_proto(self) -> models.ParticipantInfo:
        return models.ParticipantInfo(
            sid=self.sid,
            identity=self.identity,
            name=self.name,
            metadata=self.metadata,
            kind=self.kind,  # type: ignore[arg-type]
            state=self.state,  # type: ignore[arg-type]
            attributes=self.attributes,
            joined_at=int(self.joined_at),
            joined_at_ms=int(self.joined_at * 1000),
        )


@dataclass
class Room:
    sid: str
    name: str
    empty_timeout: int = 300
    departure_timeout: int = 20
    max_participants: int = 0
    metadata: str = ""
    creation_time: float = field(default_factory=time.time)
    participants: dict[str, Participant] = field(default_factory=dict)
    first_joined_at: float = 0.0
    last_left_at: float = 0.0
    # AgentDispatchService's view of the room (livekit-server pkg/rtc/room.go)
    dispatches: list[agent_dispatch.AgentDispatch] = field(default_factory=list)

    def dispatch_agents(self, agents: list[Any]) -> None:
        """room.go createAgentDispatchFromRoomDispatch: one AD_ dispatch per
        RoomAgentDispatch of the room's configuration."""
        for a in agents:
            self.dispatches.append(
                agent_dispatch.AgentDispatch(
                    id=new_id("AD_"),
                    agent_name=a.agent_name,
                    room=self.name,
                    metadata=a.metadata,
                    state=agent_dispatch.AgentDispatchState(created_at=int(time.time() * 1e9)),
                )
            )

    def to_proto(self) -> models.Room:
        return models.Room(
            sid=self.sid,
            name=self.name,
            empty_timeout=self.empty_timeout,
            departure_timeout=self.departure_timeout,
            max_participants=self.max_participants,
            metadata=self.metadata,
            creation_time=int(self.creation_time),
            creation_time_ms=int(self.creation_time * 1000),
            num_participants=len(self.participants),
        )


class RoomRegistry:
    """In-memory rooms, as a single livekit-server node holds them (never persisted)."""

    def __init__(self) -> None:
        self.rooms: dict[str, Room] = {}
        self._changed = asyncio.Condition()

    def get_or_create(self, name: str, **fields: object) -> Room:
        room = self.rooms.get(name)
        if room is None:
            room = Room(sid=new_id("RM_"), name=name, **fields)  # type: ignore[arg-type]
            self.rooms[name] = room
        return room

    def join(self, room_name: str, participant: Participant) -> Room:
        room = self.get_or_create(room_name)
        room.participants[participant.identity] = participant
        if not room.first_joined_at:
            room.first_joined_at = time.time()
        self._notify()
        return room

    def find(self, room_name: str, identity: str) -> Participant | None:
        room = self.rooms.get(room_name)
        return None if room is None else room.participants.get(identity)

    def set_attributes(self, room_name: str, identity: str, attrs: dict[str, str]) -> None:
        """Merge attributes; an empty value deletes the key (as LiveKit does)."""
        p = self.find(room_name, identity)
        if p is None:
            return
        for k, v in attrs.items():
            if v == "":
                p.attributes.pop(k, None)
            else:
                p.attributes[k] = v
        self._notify()

    def leave(self, room_name: str, identity: str) -> None:
        """The participant left by itself (call ended or failed); no hook runs."""
        room = self.rooms.get(room_name)
        if room is not None and room.participants.pop(identity, None) is not None:
            room.last_left_at = time.time()
            self._notify()

    async def remove_participant(self, room_name: str, identity: str) -> bool:
        """RemoveParticipant: run the hook (hang up), then drop it. False if unknown."""
        p = self.find(room_name, identity)
        if p is None:
            return False
        hook, p.on_remove = p.on_remove, None
        if hook is not None:
            await hook()
        self.leave(room_name, identity)
        return True

    async def delete_room(self, room_name: str) -> bool:
        room = self.rooms.get(room_name)
        if room is None:
            return False
        for identity in list(room.participants):
            await self.remove_participant(room_name, identity)
        self.rooms.pop(room_name, None)
        self._notify()
        return True

    def close_idle(self, now: float | None = None) -> list[str]:
        """livekit-server pkg/rtc/room.go CloseIfEmpty: an empty room closes once
        ``departure_timeout`` passed since the last one left, or, if nobody ever joined,
        ``empty_timeout`` since it was created (whole seconds, as LiveKit counts)."""
        now = time.time() if now is None else now
        closed = []
        for name, room in list(self.rooms.items()):
            if room.participants:
                continue
            if room.first_joined_at and room.last_left_at:
                elapsed, timeout = int(now) - int(room.last_left_at), room.departure_timeout
            else:
                elapsed, timeout = int(now) - int(room.creation_time), room.empty_timeout
            if elapsed >= timeout:
                self.rooms.pop(name, None)
                closed.append(name)
        if closed:
            self._notify()
        return closed

    async def hang_up_all(self) -> None:
        for name in list(self.rooms):
            await self.delete_room(name)

    def _notify(self) -> None:
        async def _wake() -> None:
            async with self._changed:
                self._changed.notify_all()

        with contextlib.suppress(RuntimeError):  # no loop: nobody can be waiting
            asyncio.get_running_loop().create_task(_wake())

    async def wait_changed(self, timeout: float) -> None:
        """Wait until something changes (or timeout); for tests and long-polls."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)
