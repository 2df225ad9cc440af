"""The ``livekit.RoomService`` Twirp service over the sandbox's RoomRegistry.

Checks and messages follow livekit-server pkg/service/roomservice.go and auth.go:
CreateRoom/DeleteRoom need ``roomCreate``, ListRooms ``roomList``, participant methods
``roomAdmin`` for the same ``room``. Errors that come from the room store are psrpc errors
(prefixed msg); RemoveParticipant's own not-found check is a plain Twirp error.
"""

from __future__ import annotations

from livekit.protocol import models, room

from sipctl.sandbox.auth import require
from sipctl.sandbox.errors import TwirpError
from sipctl.sandbox.rooms import Participant, RoomRegistry
from sipctl.sandbox.sip_service import Handler
from sipctl.sandbox.twirp import Call, psrpc_error

# livekit-server config defaults (config.LimitConfig).
MAX_METADATA_SIZE = 64000
MAX_ATTRIBUTES_SIZE = 64000
MAX_NAME_LENGTH = 256
MAX_ROOM_NAME_LENGTH = 256
DEFAULT_EMPTY_TIMEOUT = 300
DEFAULT_DEPARTURE_TIMEOUT = 20


def _admin(call: Call, room_name: str) -> None:
    g = call.grants
    require(g, g is not None and g.room_admin_for(room_name))


def _limit_error(what: str, limit: int) -> TwirpError:
    # twirp.InvalidArgumentError(argument, msg): msg "<argument> <msg>", meta argument.
    return TwirpError("invalid_argument", f"{what} {limit}", {"argument": what})


class RoomService:
    def __init__(self, rooms: RoomRegistry) -> None:
        self.rooms = rooms
        self.handlers: dict[str, Handler] = {
            "CreateRoom": self.create_room,
            "ListRooms": self.list_rooms,
            "DeleteRoom": self.delete_room,
            "ListParticipants": self.list_participants,
            "GetParticipant": self.get_participant,
            "RemoveParticipant": self.remove_participant,
            "UpdateParticipant": self.update_participant,
            "UpdateRoomMetadata": self.update_room_metadata,
        }

    async def create_room(self, call: Call, req: room.CreateRoomRequest) -> models.Room:
        require(call.grants, call.grants is not None and call.grants.room_create)
        if len(req.name.encode()) > MAX_ROOM_NAME_LENGTH:
            raise psrpc_error(
                "invalid_argument",
                f"room name length exceeds limits: max length {MAX_ROOM_NAME_LENGTH}",
            )
        if not req.name:
            raise psrpc_error("invalid_argument", "no room name")
        existing = self.rooms.rooms.get(req.name)
        if existing is not None:
            return existing.to_proto()
        created = self.rooms.get_or_create(
            req.name,
            empty_timeout=req.empty_timeout or DEFAULT_EMPTY_TIMEOUT,
            departure_timeout=req.departure_timeout or DEFAULT_DEPARTURE_TIMEOUT,
            max_participants=req.max_participants,
            metadata=req.metadata,
        )
        return created.to_proto()

    async def list_rooms(self, call: Call, req: room.ListRoomsRequest) -> room.ListRoomsResponse:
        require(call.grants, call.grants is not None and call.grants.room_list)
        if req.names:
            found = [self.rooms.rooms.get(n) for n in req.names]
            rooms = [r for r in found if r is not None]
        else:
            rooms = sorted(self.rooms.rooms.values(), key=lambda r: r.name)
        return room.ListRoomsResponse(rooms=[r.to_proto() for r in rooms])

    async def delete_room(self, call: Call, req: room.DeleteRoomRequest) -> room.DeleteRoomResponse:
        require(call.grants, call.grants is not None and call.grants.room_create)
        if req.room not in self.rooms.rooms:
            raise psrpc_error("not_found", "requested room does not exist")
        await self.rooms.delete_room(req.room)
        return room.DeleteRoomResponse()

    async def list_participants(
        self, call: Call, req: room.ListParticipantsRequest
    ) -> room.ListParticipantsResponse:
        _admin(call, req.room)
        r = self.rooms.rooms.get(req.room)
        people = [] if r is None else [p.to_service_proto() for p in r.participants.values()]
        return room.ListParticipantsResponse(participants=people)

    def _participant(self, room_name: str, identity: str) -> Participant:
        p = self.rooms.find(room_name, identity)
        if p is None:
            raise psrpc_error("not_found", "participant does not exist")
        return p

    async def get_participant(
        self, call: Call, req: room.RoomParticipantIdentity
    ) -> models.ParticipantInfo:
        _admin(call, req.room)
        return self._participant(req.room, req.identity).to_service_proto()

    async def remove_participant(
        self, call: Call, req: room.RoomParticipantIdentity
    ) -> room.RemoveParticipantResponse:
        _admin(call, req.room)
        if self.rooms.find(req.room, req.identity) is None:
            # roomservice.go RemoveParticipant: ErrParticipantNotFound, a psrpc error
            raise psrpc_error("not_found", "participant does not exist")
        await self.rooms.remove_participant(req.room, req.identity)
        return room.RemoveParticipantResponse()

    async def update_participant(
        self, call: Call, req: room.UpdateParticipantRequest
    ) -> models.ParticipantInfo:
        if len(req.name.encode()) > MAX_NAME_LENGTH:
            raise _limit_error("name length exceeds limits", MAX_NAME_LENGTH)
        if len(req.metadata.encode()) > MAX_METADATA_SIZE:
            raise _limit_error("metadata size exceeds limits", MAX_METADATA_SIZE)
        attrs_size = sum(len(k.encode()) + len(v.encode()) for k, v in req.attributes.items())
        if attrs_size > MAX_ATTRIBUTES_SIZE:
            raise _limit_error("attribute size exceeds limits", MAX_ATTRIBUTES_SIZE)
        _admin(call, req.room)
        p = self._participant(req.room, req.identity)
        if req.metadata:
            p.metadata = req.metadata
        if req.name:
            p.name = req.name
        # Merges attributes (empty value deletes) and wakes waiters even without attributes.
        self.rooms.set_attributes(req.room, req.identity, dict(req.attributes))
        return p.to_service_proto()

    async def update_room_metadata(
        self, call: Call, req: room.UpdateRoomMetadataRequest
    ) -> models.Room:
        if len(req.metadata.encode()) > MAX_METADATA_SIZE:
            raise _limit_error("metadata size exceeds limits", MAX_METADATA_SIZE)
        _admin(call, req.room)
        r = self.rooms.rooms.get(req.room)
        if r is None:
            raise psrpc_error("not_found", "requested room does not exist")
        r.metadata = req.metadata
        return r.to_proto()
