"""The ownership marker sipctl keeps on every live resource it manages.

LiveKit has no labels on SIP resources, so the marker lives in ``metadata``: sipctl keeps
metadata a JSON object and reserves one top-level key, ``"sipctl"``, beside the user's
own keys. The marker says the resource is managed (by name) and carries an HMAC
fingerprint of the auth password keyed with the API secret, so a rotated password shows up
as a change even when the server does not return passwords.

    {"sipctl":{"fp":"3f9a0c1d2e4b5a67","v":1},"team":"voice-agents"}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MARKER_KEY = "sipctl"
MARKER_VERSION = 1


@dataclass(frozen=True)
class Marker:
    """What sipctl records on a resource it manages."""

    version: int = MARKER_VERSION
    # HMAC-SHA256(api_secret, auth password)[:16]; None when the resource has no password.
    auth_fingerprint: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"v": self.version}
        if self.auth_fingerprint:
            out["fp"] = self.auth_fingerprint
        return out


@dataclass(frozen=True)
class ParsedMetadata:
    user: dict[str, Any]  # the user's own keys (marker removed)
    marker: Marker | None  # None: not managed by sipctl
    raw_text: str | None = None  # set when the live metadata is not a JSON object


def parse_metadata(raw: str) -> ParsedMetadata:
    """Split live metadata into the user's keys and sipctl's marker."""
    if not raw.strip():
        return ParsedMetadata({}, None)
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return ParsedMetadata({}, None, raw_text=raw)
    if not isinstance(data, dict):
        return ParsedMetadata({}, None, raw_text=raw)
    marker_data = data.pop(MARKER_KEY, None)
    marker = None
    if isinstance(marker_data, dict):
        fp = marker_data.get("fp")
        v = marker_data.get("v", MARKER_VERSION)
        marker = Marker(
            version=v if isinstance(v, int) else MARKER_VERSION,
            auth_fingerprint=fp if isinstance(fp, str) else None,
        )
    return ParsedMetadata(data, marker)


def render_metadata(user: dict[str, Any], marker: Marker | None) -> str:
    """The metadata string to store: user keys plus the marker, compact and key-sorted."""
    data = dict(user)
    if marker is not None:
        data[MARKER_KEY] = marker.to_json()
    if not data:
        return ""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
