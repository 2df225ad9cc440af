"""Who may join a room, as livekit-server decides it for ``/rtc`` and ``/rtc/validate``.

livekit/livekit pkg/service/utils.go ValidateConnectRequest (with auth.go
EnsureJoinPermission) and protocol auth/grants.go VideoGrant: a token without a video
grant or without ``roomJoin`` is 401 "no permissions to access the room"; an empty
identity is 400 "identity cannot be empty"; no room is 400 "no room name". Publish and
subscribe default to allowed when the grant leaves them unset (VideoGrant.GetCanPublish,
GetCanSubscribe), ``canPublishSources`` restricts sources when non-empty
(GetCanPublishSource), ``hidden`` keeps the participant out of everyone's view.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from livekit.protocol import models

from sipctl.sandbox.auth import Grants

MSG_DENIED = "no permissions to access the room"  # pkg/rtc/errors.go ErrPermissionDenied
MSG_NO_IDENTITY = "identity cannot be empty"  # pkg/service/errors.go ErrIdentityEmpty
MSG_NO_ROOM = "no room name"  # pkg/service/errors.go ErrNoRoomName

# protocol TrackSource names as tokens carry them in canPublishSources
_SOURCES = {
    "camera": models.TrackSource.CAMERA,
    "microphone": models.TrackSource.MICROPHONE,
    "screen_share": models.TrackSource.SCREEN_SHARE,
    "screen_share_audio": models.TrackSource.SCREEN_SHARE_AUDIO,
}


class JoinRefused(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


@dataclass(frozen=True)
class JoinGrant:
    room: str
    identity: str
    can_publish: bool
    can_subscribe: bool
    can_publish_data: bool
    hidden: bool
    sources: frozenset[int]  # empty: any source
    name: str = ""
    metadata: str = ""
    attributes: dict[str, str] = field(default_factory=dict)

    def may_publish(self, source: int) -> bool:
        return self.can_publish and (not self.sources or source in self.sources)

    def permission(self) -> models.ParticipantPermission:
        return models.ParticipantPermission(
            can_publish=self.can_publish,
            can_subscribe=self.can_subscribe,
            can_publish_data=self.can_publish_data,
            hidden=self.hidden,
            can_publish_sources=sorted(self.sources),  # type: ignore[arg-type]
        )


def _optional_flag(video: dict[str, object], key: str) -> bool:
    value = video.get(key)
    return True if value is None else value is True


def check_join(grants: Grants | None) -> JoinGrant:
    """The join permission a token carries; raises :class:`JoinRefused`."""
    if grants is None or not grants.video:
        raise JoinRefused(401, MSG_DENIED)
    video = dict(grants.video)
    if video.get("roomjoin") is not True:
        raise JoinRefused(401, MSG_DENIED)
    if not grants.identity:
        raise JoinRefused(400, MSG_NO_IDENTITY)
    if not grants.room:
        raise JoinRefused(400, MSG_NO_ROOM)
    raw_sources = video.get("canpublishsources")
    sources = frozenset(
        _SOURCES[s] for s in (raw_sources if isinstance(raw_sources, list) else []) if s in _SOURCES
    )
    return JoinGrant(
        room=grants.room,
        identity=grants.identity,
        can_publish=_optional_flag(video, "canpublish"),
        can_subscribe=_optional_flag(video, "cansubscribe"),
        can_publish_data=_optional_flag(video, "canpublishdata"),
        hidden=video.get("hidden") is True,
        sources=sources,
    )
