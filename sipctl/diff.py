"""Compare one declared model with one live resource: the fields that differ, and whether
LiveKit's update can send them or a replace is needed (both read from :mod:`sipctl.fields`).

Passwords are compared without being shown: with the value when the server returns it,
otherwise with the salted scrypt fingerprint sipctl keeps in the marker (``_password``).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable
from typing import Any

from sipctl.canonical import canonical, default_of, desired_password
from sipctl.fields import FIELDS, Kind, Value, order, spec_of
from sipctl.live import LiveResource
from sipctl.models import Resource
from sipctl.plan_result import PASSWORD, Change, FieldChange, Method
from sipctl.secrets import MASK, fingerprint, matches, prefetch, salt_for, salt_of

_MISSING = object()


def create_fields(kind: str, model: Resource) -> list[FieldChange]:
    """What a create shows: every field that is not empty or its default."""
    out = []
    for path, value in canonical(kind, model).items():
        if value in (None, "", [], {}, False) or default_of(kind, path) == value:
            continue
        out.append(FieldChange(path, None, value))
    if desired_password(model):
        out.append(FieldChange(PASSWORD, None, MASK, sensitive=True))
    out.sort(key=lambda f: order(kind, f.path))
    return out


def diff_resource(
    kind: Kind,
    name: str,
    model: Resource,
    live: LiveResource,
    api_secret: str,
    *,
    adopt: bool,
) -> Change | None:
    """The update (or adopt) that makes ``live`` match ``model``; None when it already does."""
    assert live.model is not None
    fields: list[FieldChange] = []
    # Equal models have equal canonical forms: the common case at scale (99 of 100 trunks
    # of a 10,000-trunk plan) skips building them.
    if model != live.model:
        want = canonical(kind, model)
        have = canonical(kind, live.model)
        fields = [] if want == have else _deep_fields(have, want)
        if isinstance(want.get("metadata"), str) != isinstance(have.get("metadata"), str):
            # text replaced by keys or keys by text: one change of the whole value
            fields = [f for f in fields if f.path.split(".")[0] != "metadata"]
            fields.append(FieldChange("metadata", have.get("metadata"), want.get("metadata")))
    note = ""
    if live.legacy_marker:
        # an older sipctl wrote its marker into the rule's metadata, which every caller
        # receives: the metadata is written again without it
        fields = [f for f in fields if f.path.split(".")[0] != "metadata"]
        raw = str(live.info.metadata) if live.info is not None else None
        fields.append(FieldChange("metadata", raw, canonical(kind, model).get("metadata")))
        note = "removes the ownership marker an older sipctl wrote into metadata"
    pw_change, push, pw_note = _password(model, live, api_secret, adopt)
    if pw_change is not None:
        fields.append(pw_change)
    note = "; ".join(n for n in (note, pw_note) if n)
    if not fields and not adopt:
        return None
    fields.sort(key=lambda f: order(kind, f.path))
    change = Change(
        "adopt" if adopt else "update",
        kind,
        name,
        live.id,
        "update",
        fields,
        model,
        live,
        push_password=push,
    )
    change.method = choose_method(change)
    change.note = note
    if push:
        change.note = "the server does not return the password: adopt sets it"
    return change


def choose_method(change: Change) -> Method:
    """``update`` when LiveKit's update can express every changed field, else ``replace``."""
    assert change.desired is not None
    want = canonical(change.kind, change.desired)
    for path in change.changed():
        spec = spec_of(change.kind, path)
        if spec is None or spec.update is None:
            return "replace"
        if spec.value in (Value.LIST, Value.TRUNKS) and not want.get(path):
            return "replace"  # an empty ListUpdate is refused, and the SDK drops ``clear``
        if spec.value is Value.MAP and any(v == "" for v in want.get(path, {}).values()):
            return "replace"  # update merges maps; an empty value would delete the key
    return "update"


def updatable(kind: str) -> frozenset[str]:
    """The rows LiveKit's update can send (for documentation and tests)."""
    return frozenset(s.path for s in FIELDS[kind] if s.update is not None)


def _deep_fields(have: dict[str, Any], want: dict[str, Any]) -> list[FieldChange]:
    """Field-level changes, one per path: descend while both sides are mappings (a changed
    header is ``headers.X-Foo``), stop at anything else (a changed list is the whole list,
    ``numbers``, which the renderers then show element by element).

    A short walk of our own: deepdiff gave the same paths but its import (with numpy)
    cost about 0.1 s of every plan, a third of a 1,000-trunk plan's budget."""
    out: list[FieldChange] = []
    _walk(have, want, (), out)
    return out


def _walk(
    have: dict[str, Any], want: dict[str, Any], at: tuple[str, ...], out: list[FieldChange]
) -> None:
    for key in [*have, *(k for k in want if k not in have)]:
        old, new = have.get(key, _MISSING), want.get(key, _MISSING)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            _walk(old, new, (*at, key), out)
        else:
            out.append(
                FieldChange(
                    ".".join(str(x) for x in (*at, key)),
                    None if old is _MISSING else old,
                    None if new is _MISSING else new,
                )
            )


def _password(
    model: Resource, live: LiveResource, api_secret: str, adopt: bool
) -> tuple[FieldChange | None, bool, str]:
    """(the password change if any, whether to write the password regardless, a note).

    A non-empty live password is the real one (a masking server answers an empty one):
    compare it. Otherwise use the fingerprint in the marker (salted scrypt: the same
    verdict whatever API key pair reads it). Without either, nothing can be known: an
    adopt then writes the password (and records its fingerprint).

    The change's fingerprints are the marker's own format with the resource's salt:
    ``old`` what the marker holds, ``new`` what the write will record. They tell no more
    than the marker already does, and do not depend on the API key.
    """
    if live.kind == "dispatch_rule":
        return None, False, ""
    want = desired_password(model)
    have = live.password
    recorded = live.marker.auth_fingerprint if live.marker is not None else None
    note = ""
    if have:
        if hmac.compare_digest(have.encode(), want.encode()):
            return None, False, ""
    elif recorded is not None:
        verdict = matches(recorded, want, api_secret) if want else False
        if verdict:
            return None, False, ""
        if verdict is None:
            note = _UNJUDGED
    elif not want:
        return None, False, ""  # no password on either side
    elif adopt and live.hides_password():
        # An empty password with a username (or on an inbound trunk that only a password
        # can secure): masked, most likely. Unknowable; set it.
        return None, True, ""
    # A change: its fingerprints use the resource's salt, worked out only now (most
    # resources returned above).
    salt = salt_for(recorded, live.id)
    old_fp = fingerprint(have, salt) if have else recorded
    change = FieldChange(
        PASSWORD,
        MASK if old_fp else None,
        MASK if want else None,
        sensitive=True,
        old_fingerprint=old_fp,
        new_fingerprint=fingerprint(want, salt) if want else None,
    )
    return change, False, note


# A legacy HMAC marker that does not match with the current API secret: the password or
# the key pair changed since it was recorded, and which cannot be told. Shown as a change
# (apply writes the password and records a salted fingerprint): never a silent "same".
_UNJUDGED = (
    "the password's fingerprint was recorded by an older sipctl, keyed with the API secret: "
    "it cannot tell a new password from a new API key, so apply sets the password again"
)


def prefetch_fingerprints(pairs: Iterable[tuple[Resource, LiveResource]]) -> None:
    """Derive, on a few threads, the fingerprints comparing declared passwords with the
    salted markers of live resources whose server hides the password (one scrypt each:
    the bulk of a plan's time against LiveKit Cloud)."""
    jobs = []
    for model, live in pairs:
        if live.kind == "dispatch_rule" or live.password or live.marker is None:
            continue
        want = desired_password(model)
        salt = salt_of(live.marker.auth_fingerprint)
        if want and salt is not None:
            jobs.append((want, salt))
    prefetch(jobs)


def inconsistencies(
    change: Change, result: LiveResource, warnings: list[str] | None = None
) -> list[str]:
    """Where what LiveKit holds after a write differs from what the plan meant to write
    (Terraform's "provider produced an inconsistent result"): one line per field with
    both values. Passwords only when the server returns them. A difference in a field
    some servers do not know yet (``readback="warn"``) goes to ``warnings`` instead."""
    assert change.desired is not None
    if result.model is None:
        return [f"LiveKit's answer cannot be read: {result.error}"]
    want = canonical(change.kind, change.desired)
    have = canonical(change.kind, result.model)
    fields = _deep_fields(have, want) if want != have else []
    fields.sort(key=lambda f: order(change.kind, f.path))
    out: list[str] = []
    for f in fields:
        line = f"{f.path}: planned {_shown(f.new)}, LiveKit holds {_shown(f.old)}"
        spec = spec_of(change.kind, f.path)
        if spec is None or spec.readback != "warn":
            out.append(line)
        elif warnings is not None:
            warnings.append(
                f"{change.label()}: {line} (this LiveKit server may not know the field)"
            )
    if result.password and not hmac.compare_digest(
        result.password.encode(), desired_password(change.desired).encode()
    ):
        out.append(f"{PASSWORD}: LiveKit holds another value")
    if change.kind == "dispatch_rule":
        if result.legacy_marker:
            out.append("metadata: sipctl's marker is still in it")
    elif result.marker is None:
        out.append("sipctl's ownership marker is missing")
    return out


def _shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
