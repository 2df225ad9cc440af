"""A call's media settings: trunk ``media`` merged with the request's, as LiveKit merges them.

livekit/protocol ``rpc/sip.go`` NewCreateSIPParticipantRequestResult upgrades the legacy
``media_encryption`` field into ``media.encryption`` (``livekit/sip.go``
SIPMediaConfig.UpgradeWith), then merges the trunk's config with the request's
(SIPMediaConfig.Merge: the request wins field by field; codecs travel with their
``only_listed_codecs``; encryption by SIPMediaEncryption.MergeValue, where DISABLE is
"unset"). livekit/sip ``pkg/sip/media_codecs.go`` newMediaConfig then applies the
bridge's default media timeout when none is set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from livekit.protocol.sip import SIPMediaConfig, SIPMediaEncryption

DISABLE = SIPMediaEncryption.SIP_MEDIA_ENCRYPT_DISABLE
ALLOW = SIPMediaEncryption.SIP_MEDIA_ENCRYPT_ALLOW
REQUIRE = SIPMediaEncryption.SIP_MEDIA_ENCRYPT_REQUIRE

# livekit/sip pkg/sip/media_port.go: defaultMediaTimeout, defaultMediaTimeoutInitial
DEFAULT_MEDIA_TIMEOUT = 15.0
DEFAULT_MEDIA_TIMEOUT_INITIAL = 30.0


@dataclass
class MediaSettings:
    """What the bridge uses for one call."""

    encryption: int = DISABLE
    only_listed_codecs: bool = False
    codecs: list[tuple[str, int]] = field(default_factory=list)  # (name, rate); rate 0: unset
    media_timeout: float | None = None  # None: the bridge's default


def _upgrade(media: SIPMediaConfig | None, legacy: int) -> SIPMediaConfig:
    # SIPMediaConfig.UpgradeWith: DISABLE is the zero value, meaning "unset"
    out = SIPMediaConfig()
    if media is not None:
        out.CopyFrom(media)
    if not out.HasField("encryption") and legacy != DISABLE:
        out.encryption = legacy  # type: ignore[assignment]
    return out


def _merge_enc(a: int | None, b: int | None) -> int | None:
    # SIPMediaEncryption.Merge / MergeValue
    if a is None:
        return b
    if b is None:
        return a
    if a == b or b == DISABLE:
        return a
    return b


def merge(
    trunk_media: SIPMediaConfig | None,
    trunk_enc: int,
    req_media: SIPMediaConfig | None,
    req_enc: int,
    *,
    has_trunk: bool = True,
) -> MediaSettings:
    """The merged settings; ``has_trunk`` False for an inline trunk (which has no media)."""
    base = _upgrade(trunk_media, trunk_enc) if has_trunk else None
    over = _upgrade(req_media, req_enc)
    enc: int | None = None
    codecs: list[tuple[str, int]] = []
    only = False
    timeout: float | None = None
    if base is not None:
        enc = int(base.encryption) if base.HasField("encryption") else None
        codecs = [(c.name, int(c.rate)) for c in base.codecs]
        only = base.only_listed_codecs
        if base.HasField("media_timeout"):
            timeout = base.media_timeout.seconds + base.media_timeout.nanos / 1e9
    enc = _merge_enc(enc, int(over.encryption) if over.HasField("encryption") else None)
    if over.codecs:
        codecs = [(c.name, int(c.rate)) for c in over.codecs]
        only = over.only_listed_codecs
    if over.HasField("media_timeout"):
        timeout = over.media_timeout.seconds + over.media_timeout.nanos / 1e9
    return MediaSettings(
        encryption=DISABLE if enc is None else enc,
        only_listed_codecs=only,
        codecs=codecs,
        media_timeout=timeout if timeout is not None and timeout > 0 else None,
    )
