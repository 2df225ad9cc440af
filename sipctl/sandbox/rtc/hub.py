"""The media side of the sandbox's rooms: who publishes which audio track, who hears it.

Participants themselves live in :class:`~sipctl.sandbox.rooms.RoomRegistry` (the SIP
bridge and RoomService use it); this hub adds what a WebRTC room needs: published tracks
(as livekit-server's ParticipantInfo.tracks), the real-time sessions to keep informed, and
the SIP legs that mix the room's audio into their calls. Every published track is served
through one aiortc MediaRelay, so any number of subscribers can read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack
from livekit.protocol import models

from sipctl.sandbox.rooms import Participant, RoomRegistry

SIP_KIND = models.ParticipantInfo.Kind.SIP


@dataclass
class PublishedTrack:
    info: models.TrackInfo
    track: MediaStreamTrack
    owner: str  # participant identity


@dataclass
class RoomMedia:
    tracks: dict[str, list[PublishedTrack]] = field(default_factory=dict)  # by identity
    hidden: set[str] = field(default_factory=set)
    permissions: dict[str, models.ParticipantPermission] = field(default_factory=dict)
    listeners: set[Callable[[], None]] = field(default_factory=set)


class RtcHub:
    def __init__(self, rooms: RoomRegistry, logger: logging.Logger) -> None:
        self.rooms = rooms
        self.log = logger
        self.relay = MediaRelay()
        self.media: dict[str, RoomMedia] = {}
        self._watcher: asyncio.Task[None] | None = None

    def room(self, name: str) -> RoomMedia:
        return self.media.setdefault(name, RoomMedia())

    # --- change notification ---------------------------------------------------------

    def listen(self, room: str, listener: Callable[[], None]) -> None:
        """``listener`` runs on every change in the room (tracks here, or participants and
        attributes in the registry, which the SIP bridge changes)."""
        self.room(room).listeners.add(listener)
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.ensure_future(self._watch_registry())

    def unlisten(self, room: str, listener: Callable[[], None]) -> None:
        media = self.media.get(room)
        if media is not None:
            media.listeners.discard(listener)

    def changed(self, room: str) -> None:
        media = self.media.get(room)
        for listener in list(media.listeners if media else ()):
            listener()

    async def _watch_registry(self) -> None:
        while any(m.listeners for m in self.media.values()):
            await self.rooms.wait_changed(1.0)
            for name in list(self.media):
                self.changed(name)

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher

    # --- tracks ----------------------------------------------------------------------

    def publish(self, room: str, published: PublishedTrack) -> None:
        self.room(room).tracks.setdefault(published.owner, []).append(published)
        self.log.info(
            "room %s: %s published %s track %s",
            room,
            published.owner,
            models.TrackType.Name(published.info.type).lower(),
            published.info.sid,
        )
        self.changed(room)

    def unpublish_all(self, room: str, identity: str) -> None:
        media = self.media.get(room)
        if media is None:
            return
        gone = media.tracks.pop(identity, [])
        for published in gone:
            published.track.stop()
        if gone:
            self.changed(room)

    def tracks(self, room: str) -> list[PublishedTrack]:
        media = self.media.get(room)
        return [t for ts in (media.tracks.values() if media else ()) for t in ts]

    def subscribe(self, published: PublishedTrack) -> MediaStreamTrack:
        return self.relay.subscribe(published.track, buffered=False)

    # --- participants as others see them ---------------------------------------------

    def set_participant(
        self, room: str, identity: str, permission: models.ParticipantPermission
    ) -> None:
        media = self.room(room)
        media.permissions[identity] = permission
        if permission.hidden:
            media.hidden.add(identity)

    def forget_participant(self, room: str, identity: str) -> None:
        media = self.media.get(room)
        if media is None:
            return
        media.permissions.pop(identity, None)
        media.hidden.discard(identity)
        if not media.tracks and not media.listeners and not media.permissions:
            self.media.pop(room, None)

    def is_hidden(self, room: str, identity: str) -> bool:
        media = self.media.get(room)
        return media is not None and identity in media.hidden

    def info(self, room: str, participant: Participant) -> models.ParticipantInfo:
        """ParticipantInfo with the tracks and permission this hub knows."""
        info = participant.to_proto()
        media = self.media.get(room)
        if media is not None:
            info.tracks.extend(t.info for t in media.tracks.get(participant.identity, []))
            permission = media.permissions.get(participant.identity)
            if permission is not None:
                info.permission.CopyFrom(permission)
        info.is_publisher = bool(info.tracks)
        return info

    def visible(self, room: str, viewer: str) -> dict[str, models.ParticipantInfo]:
        """Who ``viewer`` sees: everyone else but hidden participants (livekit-server
        never announces hidden ones: pkg/rtc/room.go broadcastParticipantState)."""
        found = self.rooms.rooms.get(room)
        if found is None:
            return {}
        return {
            p.identity: self.info(room, p)
            for p in list(found.participants.values())
            if p.identity != viewer and not self.is_hidden(room, p.identity)
        }
