"""The ``livekit.AgentDispatchService`` Twirp service: List, Create and DeleteDispatch.

livekit-server ``pkg/service/agent_dispatch_service.go``: every method needs ``roomAdmin``
for the request's room (EnsureAdminPermission). The dispatches live with the room
(``pkg/rtc/room.go``): a room created from a configuration with ``agents`` (for example
by a dispatch rule's ``room_config``) gets one ``AD_`` dispatch per agent. No agent worker
runs in the sandbox, so a dispatch never gets jobs.
"""

from __future__ import annotations

import time

from livekit.protocol import agent_dispatch as ad

from sipctl.sandbox.auth import require
from sipctl.sandbox.rooms import RoomRegistry, new_id
from sipctl.sandbox.sip_service import Handler
from sipctl.sandbox.twirp import Call, psrpc_error


def _admin(call: Call, room_name: str) -> None:
    g = call.grants
    require(g, g is not None and g.room_admin_for(room_name))


class AgentDispatchService:
    def __init__(self, rooms: RoomRegistry) -> None:
        self.rooms = rooms
        self.handlers: dict[str, Handler] = {
            "CreateDispatch": self.create_dispatch,
            "DeleteDispatch": self.delete_dispatch,
            "ListDispatch": self.list_dispatch,
        }

    async def create_dispatch(
        self, call: Call, req: ad.CreateAgentDispatchRequest
    ) -> ad.AgentDispatch:
        _admin(call, req.room)
        room = self.rooms.get_or_create(req.room)  # the server auto-creates the room
        d = ad.AgentDispatch(
            id=new_id("AD_"),
            agent_name=req.agent_name,
            room=req.room,
            metadata=req.metadata,
            state=ad.AgentDispatchState(created_at=int(time.time() * 1e9)),
        )
        room.dispatches.append(d)
        return d

    async def delete_dispatch(
        self, call: Call, req: ad.DeleteAgentDispatchRequest
    ) -> ad.AgentDispatch:
        _admin(call, req.room)
        room = self.rooms.rooms.get(req.room)
        for d in room.dispatches if room else []:
            if d.id == req.dispatch_id:
                room.dispatches.remove(d)  # type: ignore[union-attr]
                return d
        raise psrpc_error("not_found", "dispatch not found")

    async def list_dispatch(
        self, call: Call, req: ad.ListAgentDispatchRequest
    ) -> ad.ListAgentDispatchResponse:
        _admin(call, req.room)
        room = self.rooms.rooms.get(req.room)
        found = list(room.dispatches) if room else []
        if req.dispatch_id:
            found = [d for d in found if d.id == req.dispatch_id]
        return ad.ListAgentDispatchResponse(agent_dispatches=found)
