"""The ownership marker sipctl keeps on every live resource it manages.

LiveKit has no labels on SIP resources, so the marker lives in ``metadata``, beside the
user's own metadata. When that is a JSON object (or empty), sipctl reserves one top-level
key, ``"sipctl"``; when it is plain text, the marker is a last line ``[sipctl] {...}``
after the text. The marker says the resource is managed (by name) and carries a salted
scrypt fingerprint of the auth password (``sipctl.secrets.fingerprint``), so a rotated
password shows up as a change even when the server does not return passwords, whatever
API key pair reads it. Markers of older sipctl versions hold a 16-hex HMAC keyed with the
API secret instead; they are still read (``sipctl.secrets.matches``) and replaced by the
next write of the resource.

    {"sipctl":{"fp":"s1.q3Vx0aZ1bGcT.Rk2mW9pLx4sD","o":"prod","v":1},"team":"voice-agents"}
    owner: voice team
    [sipctl] {"fp":"s1.q3Vx0aZ1bGcT.Rk2mW9pLx4sD","v":1}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NamedTuple

MARKER_KEY = "sipctl"
MARKER_VERSION = 1
MARKER_LINE = "[sipctl] "  # prefix of the marker's line after plain-text metadata


@dataclass(frozen=True)
class Marker:
    """What sipctl records on a resource it manages."""

    version: int = MARKER_VERSION
    # ``s1.<salt>.<scrypt hash>`` of the auth password (or an older sipctl's 16-hex HMAC);
    # None when the resource has no password.
    auth_fingerprint: str | None = None
    # settings.owner of the config that manages it; None: a config without an owner
    owner: str | None = None
    # on an inbound trunk: the IDs of the dispatch rules its owner manages among those
    # that reference it (a rule's own metadata reaches every caller: no marker goes there)
    rules: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"v": self.version}
        if self.auth_fingerprint:
            out["fp"] = self.auth_fingerprint
        if self.owner:
            out["o"] = self.owner
        if self.rules:
            out["r"] = list(self.rules)
        return out


class ParsedMetadata(NamedTuple):
    """One live resource's metadata, split (a tuple: made for every resource read)."""

    user: dict[str, Any] | str  # the user's own metadata (marker removed): keys, or text
    marker: Marker | None  # None: not managed by sipctl


def _marker_from(data: object) -> Marker | None:
    if not isinstance(data, dict):
        return None
    fp, owner, rules = data.get("fp"), data.get("o"), data.get("r")
    v = data.get("v", MARKER_VERSION)
    return Marker(
        version=v if isinstance(v, int) else MARKER_VERSION,
        auth_fingerprint=fp if isinstance(fp, str) else None,
        owner=owner if isinstance(owner, str) and owner else None,
        rules=tuple(r for r in rules if isinstance(r, str)) if isinstance(rules, list) else (),
    )


def parse_metadata(raw: str) -> ParsedMetadata:
    """Split live metadata into the user's own metadata and sipctl's marker."""
    if not raw.strip():
        return ParsedMetadata({}, None)
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        return ParsedMetadata(data, _marker_from(data.pop(MARKER_KEY, None)))
    text, _, last = raw.rpartition("\n")
    if last.startswith(MARKER_LINE):
        try:
            marker = _marker_from(json.loads(last[len(MARKER_LINE) :]))
        except json.JSONDecodeError:
            marker = None
        if marker is not None:
            return ParsedMetadata(text, marker)
    return ParsedMetadata(raw, None)


def render_metadata(user: dict[str, Any] | str, marker: Marker | None) -> str:
    """The metadata to store: the user's keys plus the marker, compact and key-sorted; or
    the user's text with the marker on a last line of its own."""
    if isinstance(user, str) and user:
        if marker is None:
            return user
        mark = json.dumps(marker.to_json(), sort_keys=True, separators=(",", ":"))
        return f"{user}\n{MARKER_LINE}{mark}"
    data = dict(user) if isinstance(user, dict) else {}
    if marker is not None:
        data[MARKER_KEY] = marker.to_json()
    if not data:
        return ""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
