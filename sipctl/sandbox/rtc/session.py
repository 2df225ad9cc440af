"""One real-time participant: LiveKit's signalling over a WebSocket, two aiortc peers.

As livekit-server's dual peer connection mode (protocol < single-PC ``/rtc/v1``):
pkg/service/rtcservice.go serve upgrades and relays protobuf ``SignalRequest`` /
``SignalResponse`` binary messages; pkg/rtc/room.go Join answers a ``JoinResponse``
(room, own ParticipantInfo, other participants, ``subscriber_primary``, ping settings);
pkg/rtc/transportmanager.go keeps two transports: the *subscriber* (server offers, with
the server's data channels and one sending transceiver per subscribed track, re-offered
as subscriptions change) and the *publisher* (the client offers after ``AddTrack``
was answered with ``TrackPublishedResponse``; the server answers). Candidates are
trickled (``TrickleRequest`` with the target transport, pkg/rtc/participant.go
AddICECandidate); ``ping_req`` gets ``pong_resp`` (participant_signal.go); a
``LeaveRequest`` ends the session; RemoveParticipant or DeleteRoom sends the client a
``LeaveRequest`` with action DISCONNECT (participant.go sendLeaveRequest). With auto
subscribe (the default, query ``auto_subscribe``), every track another visible
participant publishes is subscribed (pkg/rtc/room.go autoSubscribe); ``UpdateSubscription``
subscribes or unsubscribes named tracks either way; the subscriber
offer's stream id is ``<participant sid>|<track sid>``, which the SDKs split to find the
publication (pkg/sfu/downtrack.go StreamID via utils.PackStreamID).

The sandbox's aiortc offers carry their (loopback) candidates in the SDP; client
candidates arrive by trickle and only loopback ones are used (see ``loopback``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from aiohttp import WSMsgType, web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.sdp import candidate_from_sdp
from livekit.protocol import models, rtc

from sipctl.sandbox.rooms import Participant, RoomRegistry, new_id
from sipctl.sandbox.rtc.grants import JoinGrant
from sipctl.sandbox.rtc.hub import PublishedTrack, RtcHub
from sipctl.sandbox.rtc.loopback import candidate_host, is_loopback

PING_INTERVAL_S = 5  # pkg/rtc/participant.go PingIntervalSeconds
PING_TIMEOUT_S = 15  # PingTimeoutSeconds
ANSWER_TIMEOUT_S = 10.0
LOOPBACK_HINT_S = 3.0  # no loopback candidate by then: say why the client cannot connect
SERVER_VERSION = "1.9.0"
DATA_CHANNELS = ("_reliable", "_lossy")  # livekit-server's labels (pkg/rtc/transport.go)
State = models.ParticipantInfo.State
Target = rtc.SignalTarget


def _no_ice_servers() -> RTCConfiguration:
    # aiortc falls back to a public STUN server when none are given: never on loopback.
    return RTCConfiguration(iceServers=[])


class RtcSession:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        grant: JoinGrant,
        hub: RtcHub,
        rooms: RoomRegistry,
        *,
        auto_subscribe: bool,
        logger: logging.Logger,
    ) -> None:
        self.ws = ws
        self.grant = grant
        self.hub = hub
        self.rooms = rooms
        self.auto_subscribe = auto_subscribe
        self.log = logger
        self.room_name = grant.room
        self.participant = Participant(
            sid=new_id("PA_"),
            identity=grant.identity,
            name=grant.name,
            metadata=grant.metadata,
            attributes=dict(grant.attributes),
            state=State.JOINED,
        )
        self.sub_pc = RTCPeerConnection(_no_ice_servers())
        self.pub_pc = RTCPeerConnection(_no_ice_servers())
        self._send_lock = asyncio.Lock()
        self._sub_lock = asyncio.Lock()
        self._answer: asyncio.Future[RTCSessionDescription] | None = None
        self._offer_id = 0
        self._pending: dict[str, models.TrackInfo] = {}  # AddTrack cid -> published info
        self._subscribed: dict[str, RTCRtpSender] = {}  # track sid -> sender
        self._chosen: dict[str, bool] = {}  # track sid -> subscribe, by UpdateSubscription
        self._seen: dict[str, models.ParticipantInfo] = {}  # identity -> last sent
        self._wake = asyncio.Event()
        self._loopback_candidates = 0
        self._hinted = False
        self._closed = asyncio.Event()
        self.leave_reason: int = models.DisconnectReason.CLIENT_INITIATED
        self.joined_at = time.monotonic()

    # --- lifecycle -----------------------------------------------------------------------

    async def run(self) -> None:
        room = self.rooms.get_or_create(self.room_name)
        self.participant.on_remove = self.remove
        self.hub.set_participant(self.room_name, self.grant.identity, self.grant.permission())
        self.rooms.join(self.room_name, self.participant)
        self.hub.listen(self.room_name, self._wake.set)
        self._watch_peers()
        sync = asyncio.ensure_future(self._sync_loop())
        try:
            others = self.hub.visible(self.room_name, self.grant.identity)
            self._seen = others
            await self._send(
                join=rtc.JoinResponse(
                    room=room.to_proto(),
                    participant=self.hub.info(self.room_name, self.participant),
                    other_participants=list(others.values()),
                    server_version=SERVER_VERSION,
                    subscriber_primary=self.grant.can_subscribe,
                    ping_timeout=PING_TIMEOUT_S,
                    ping_interval=PING_INTERVAL_S,
                    server_info=models.ServerInfo(
                        edition=models.ServerInfo.Edition.Standard,
                        version=SERVER_VERSION,
                        protocol=16,
                    ),
                )
            )
            for label in DATA_CHANNELS:
                self.sub_pc.createDataChannel(label, ordered=label == "_reliable")
            self._wake.set()
            await self._receive()
        finally:
            sync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sync
            await self._teardown()

    async def remove(self) -> None:
        """RemoveParticipant or DeleteRoom: tell the client to go, as LiveKit does."""
        self.leave_reason = models.DisconnectReason.PARTICIPANT_REMOVED
        with contextlib.suppress(Exception):
            await self._send(
                leave=rtc.LeaveRequest(
                    can_reconnect=False,
                    reason=models.DisconnectReason.PARTICIPANT_REMOVED,
                    action=rtc.LeaveRequest.Action.DISCONNECT,
                )
            )
        self._closed.set()
        await self.ws.close()

    async def _teardown(self) -> None:
        self.hub.unlisten(self.room_name, self._wake.set)
        self.hub.unpublish_all(self.room_name, self.grant.identity)
        if self.rooms.find(self.room_name, self.grant.identity) is self.participant:
            self.rooms.leave(self.room_name, self.grant.identity)
        self.hub.forget_participant(self.room_name, self.grant.identity)
        for pc in (self.sub_pc, self.pub_pc):
            with contextlib.suppress(Exception):
                await pc.close()
        self.log.info(
            "rtc: %s left room %s after %.1fs (%s)",
            self.grant.identity,
            self.room_name,
            time.monotonic() - self.joined_at,
            models.DisconnectReason.Name(self.leave_reason),
        )

    def _watch_peers(self) -> None:
        def _state() -> None:
            if self.sub_pc.connectionState == "connected":
                self.participant.state = State.ACTIVE
                self.hub.changed(self.room_name)

        self.sub_pc.on("connectionstatechange", _state)
        self.pub_pc.on("track", self._published)

    # --- signalling ------------------------------------------------------------------------

    async def _send(self, **message: Any) -> None:
        data = rtc.SignalResponse(**message).SerializeToString()
        async with self._send_lock:
            if not self.ws.closed:
                await self.ws.send_bytes(data)

    async def _receive(self) -> None:
        async for msg in self.ws:
            if msg.type != WSMsgType.BINARY:
                continue  # livekit-server reads binary protobuf only (JSON is for old clients)
            req = rtc.SignalRequest()
            try:
                req.ParseFromString(msg.data)
            except Exception:
                self.log.warning("rtc: %s sent an unreadable message", self.grant.identity)
                continue
            kind = req.WhichOneof("message")
            if kind == "leave":
                self.leave_reason = req.leave.reason or models.DisconnectReason.CLIENT_INITIATED
                return
            await self._handle(kind, req)

    async def _handle(self, kind: str | None, req: rtc.SignalRequest) -> None:
        if kind == "answer":
            if self._answer is not None and not self._answer.done():
                self._answer.set_result(RTCSessionDescription(sdp=req.answer.sdp, type="answer"))
        elif kind == "offer":
            await self._answer_publisher(req.offer)
        elif kind == "trickle":
            await self._trickle(req.trickle)
        elif kind == "add_track":
            await self._add_track(req.add_track)
        elif kind == "ping_req":
            now = int(time.time() * 1000)
            await self._send(
                pong_resp=rtc.Pong(last_ping_timestamp=req.ping_req.timestamp, timestamp=now)
            )
        elif kind == "ping":
            await self._send(pong=int(time.time() * 1000))
        elif kind == "subscription":
            self._update_subscription(req.subscription)
        # mute, track settings, sync state, metadata updates: accepted, not acted on

    async def _trickle(self, trickle: rtc.TrickleRequest) -> None:
        try:
            init = json.loads(trickle.candidateInit)
            line = str(init.get("candidate", ""))
        except (ValueError, AttributeError):
            return
        if not line:
            return  # end of candidates
        host = candidate_host(line)
        if not is_loopback(host):
            self.log.debug("rtc: ignoring non-loopback candidate %s", host)
            if not self._hinted:
                self._hinted = True
                asyncio.get_running_loop().call_later(LOOPBACK_HINT_S, self._hint_loopback)
            return
        self._loopback_candidates += 1
        candidate = candidate_from_sdp(line.split(":", 1)[1])
        candidate.sdpMid = init.get("sdpMid")
        candidate.sdpMLineIndex = init.get("sdpMLineIndex")
        pc = self.pub_pc if trickle.target == Target.PUBLISHER else self.sub_pc
        with contextlib.suppress(Exception):  # a candidate for a closed transport
            await pc.addIceCandidate(candidate)

    def _update_subscription(self, req: rtc.UpdateSubscription) -> None:
        """UpdateSubscription (pkg/rtc/participant.go, via room.go UpdateSubscriptions): the
        named tracks are subscribed or unsubscribed, whatever auto subscribe says."""
        sids = set(req.track_sids)
        for pt in req.participant_tracks:
            sids.update(pt.track_sids)
        for sid in sids:
            self._chosen[sid] = req.subscribe
        self._wake.set()

    def _hint_loopback(self) -> None:
        if self._loopback_candidates == 0 and not self._closed.is_set():
            self.log.warning(
                "rtc: %s offers no loopback ICE candidate and the sandbox uses loopback only: "
                "libwebrtc skips the loopback adapter, so run the client in a network "
                "namespace with another 127.x address (README: the sandbox, real-time rooms)",
                self.grant.identity,
            )

    # --- publishing ------------------------------------------------------------------------

    async def _add_track(self, req: rtc.AddTrackRequest) -> None:
        source = req.source or models.TrackSource.MICROPHONE
        if not self.grant.may_publish(source):
            # pkg/rtc/participant.go AddTrack: no permission -> RequestResponse NOT_ALLOWED
            self.log.warning(
                "rtc: %s has no permission to publish %s",
                self.grant.identity,
                models.TrackSource.Name(source),
            )
            await self._send(
                request_response=rtc.RequestResponse(
                    reason=rtc.RequestResponse.Reason.NOT_ALLOWED, add_track=req
                )
            )
            return
        if req.type != models.TrackType.AUDIO:
            # the sandbox carries audio only: the request is left unanswered
            self.log.warning("rtc: %s: only audio tracks are supported", self.grant.identity)
            return
        info = models.TrackInfo(
            sid=new_id("TR_"),
            type=models.TrackType.AUDIO,
            name=req.name,
            source=source,
            muted=req.muted,
            stereo=req.stereo,
            disable_dtx=req.disable_dtx,
            mime_type="audio/opus",
            stream=req.stream,
        )
        self._pending[req.cid] = info
        await self._send(track_published=rtc.TrackPublishedResponse(cid=req.cid, track=info))

    async def _answer_publisher(self, offer: rtc.SessionDescription) -> None:
        await self.pub_pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        answer = await self.pub_pc.createAnswer()
        await self.pub_pc.setLocalDescription(answer)
        await self._send(
            answer=rtc.SessionDescription(
                type="answer", sdp=self.pub_pc.localDescription.sdp, id=offer.id
            )
        )

    def _published(self, track: MediaStreamTrack) -> None:
        info = self._pending.pop(track.id, None)
        if info is None and self._pending:
            info = self._pending.pop(next(iter(self._pending)))  # msid without the cid
        if info is None or track.kind != "audio":
            return
        self.hub.publish(
            self.room_name, PublishedTrack(info=info, track=track, owner=self.grant.identity)
        )

    # --- what this participant sees and hears -----------------------------------------------

    async def _sync_loop(self) -> None:
        while not self._closed.is_set():
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._sync_participants()
                await self._sync_subscriptions()
            except (ConnectionError, RuntimeError, TimeoutError) as e:
                self.log.warning("rtc: %s: %s", self.grant.identity, e)

    async def _sync_participants(self) -> None:
        now = self.hub.visible(self.room_name, self.grant.identity)
        changed = [
            info
            for identity, info in now.items()
            if identity not in self._seen
            or self._seen[identity].SerializeToString() != info.SerializeToString()
        ]
        for identity in set(self._seen) - set(now):
            # the last info, marked gone: the SDKs find the participant by its sid
            gone = models.ParticipantInfo()
            gone.CopyFrom(self._seen[identity])
            gone.state = State.DISCONNECTED
            changed.append(gone)
        if changed:
            self._seen = now
            await self._send(update=rtc.ParticipantUpdate(participants=changed))

    async def _sync_subscriptions(self) -> None:
        wanted: dict[str, PublishedTrack] = {}
        if self.grant.can_subscribe:
            for published in self.hub.tracks(self.room_name):
                if published.owner == self.grant.identity or self.hub.is_hidden(
                    self.room_name, published.owner
                ):
                    continue
                if self._chosen.get(published.info.sid, self.auto_subscribe):
                    wanted[published.info.sid] = published
        owners = {
            p.identity: p.sid
            for p in self.rooms.rooms.get(self.room_name, _EMPTY).participants.values()
        }
        dirty = False
        for sid, published in wanted.items():
            if sid in self._subscribed or published.owner not in owners:
                continue
            sender = self.sub_pc.addTrack(self.hub.subscribe(published))
            # pkg/sfu/downtrack.go: stream id "<participant sid>|<track sid>", track id the
            # track sid; aiortc has no API for either, so its sender fields are set.
            sender._stream_id = f"{owners[published.owner]}|{sid}"
            sender._track_id = sid
            self._subscribed[sid] = sender
            dirty = True
        for sid in set(self._subscribed) - set(wanted):
            sender = self._subscribed.pop(sid)
            for transceiver in self.sub_pc.getTransceivers():
                if transceiver.sender is sender:
                    transceiver.direction = "inactive"
            sender.replaceTrack(None)
            dirty = True
        if dirty or self.sub_pc.localDescription is None:
            await self._offer_subscriber()

    async def _offer_subscriber(self) -> None:
        async with self._sub_lock:
            offer = await self.sub_pc.createOffer()
            await self.sub_pc.setLocalDescription(offer)
            self._offer_id += 1
            self._answer = asyncio.get_running_loop().create_future()
            await self._send(
                offer=rtc.SessionDescription(
                    type="offer", sdp=self.sub_pc.localDescription.sdp, id=self._offer_id
                )
            )
            answer = await asyncio.wait_for(self._answer, ANSWER_TIMEOUT_S)
            await self.sub_pc.setRemoteDescription(answer)


class _NoRoom:
    participants: dict[str, Participant] = {}  # noqa: RUF012


_EMPTY: Any = _NoRoom()
