"""The SIP participant's audio in the room, as livekit/sip bridges it.

livekit/sip pkg/sip/room.go: the bridge publishes one audio track for the call
(Room.NewParticipantTrack; the sandbox names it after the participant identity) carrying
what the far end sends, and subscribes to every audio track other participants publish,
mixing them into what it sends to the far end (Room.participantJoin /
subscribeTo -> mixer). Here the call's RTP endpoint (the bridge's audio hook) feeds a
:class:`PcmTrack` and takes its 20 ms frames from a :class:`Mixer` of the room's tracks.
Hidden participants are never announced, so the bridge never hears them.
"""

from __future__ import annotations

import logging

from livekit.protocol import models

from sipctl.sandbox.bridge import Bridge, BridgeCall
from sipctl.sandbox.rooms import new_id
from sipctl.sandbox.rtc.hub import PublishedTrack, RtcHub
from sipctl.sandbox.rtc.media import Mixer, PcmTrack, TrackReader


class SipLeg:
    def __init__(self, hub: RtcHub, bc: BridgeCall) -> None:
        assert bc.call is not None
        self.hub = hub
        self.room = bc.room
        self.identity = bc.identity
        self.rtp = bc.call.rtp
        self.track = PcmTrack()
        self.mixer = Mixer()
        self.info = models.TrackInfo(
            sid=new_id("TR_"),
            type=models.TrackType.AUDIO,
            name=bc.identity,
            source=models.TrackSource.MICROPHONE,
            mime_type="audio/opus",
        )
        self.rtp.on_audio = self.track.push
        self.rtp.audio_source = self.mixer.next_frame
        hub.listen(self.room, self.sync)
        hub.publish(
            self.room, PublishedTrack(info=self.info, track=self.track, owner=self.identity)
        )

    def sync(self) -> None:
        """Hear every audio track of the room but its own (and none of hidden ones)."""
        wanted = {
            t.info.sid: t
            for t in self.hub.tracks(self.room)
            if t.owner != self.identity and not self.hub.is_hidden(self.room, t.owner)
        }
        for sid in set(self.mixer.readers) - set(wanted):
            self.mixer.readers.pop(sid).close()
        for sid, published in wanted.items():
            if sid not in self.mixer.readers:
                self.mixer.readers[sid] = TrackReader(self.hub.subscribe(published))

    def close(self) -> None:
        self.rtp.on_audio = None
        self.rtp.audio_source = None
        self.hub.unlisten(self.room, self.sync)
        self.mixer.close()
        self.hub.unpublish_all(self.room, self.identity)


class SipLegs:
    """Hooks the bridge: a :class:`SipLeg` from answer to hang-up."""

    def __init__(self, hub: RtcHub, bridge: Bridge, logger: logging.Logger) -> None:
        self.hub = hub
        self.log = logger
        self.legs: dict[str, SipLeg] = {}
        bridge.on_call_answered = self.answered
        bridge.on_call_ended = self.ended

    def answered(self, bc: BridgeCall) -> None:
        if bc.call is not None:
            self.legs[bc.call_id] = SipLeg(self.hub, bc)

    def ended(self, bc: BridgeCall) -> None:
        leg = self.legs.pop(bc.call_id, None)
        if leg is not None:
            leg.close()
