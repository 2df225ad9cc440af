"""Write one planned change to LiveKit: create, update, replace or delete.

``update`` is used where LiveKit's update (as the SDK's ``update_*_fields`` send it) can
express every changed field; otherwise ``replace`` sends the whole resource, password
included, with fields sipctl does not model copied from the live resource. Every write
records sipctl's marker (with the password's salted fingerprint) in ``metadata``.

A create whose answer was lost is never blindly repeated: before a retry the name is
looked up, and a resource found there is the one created.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from livekit.protocol import sip as pb

from sipctl.canonical import desired_password
from sipctl.errors import LiveKitError, SipctlError
from sipctl.live import LiveResource
from sipctl.livekit import mapping
from sipctl.livekit.client import (
    ConnectionLike,
    ServerAnswer,
    TransientError,
    UnreadableAnswer,
    call,
)
from sipctl.livekit.state import find_managed
from sipctl.ownership import Marker
from sipctl.plan_result import PASSWORD, Change
from sipctl.secrets import fingerprint, salt_for

if TYPE_CHECKING:
    from livekit.api import LiveKitAPI

log = logging.getLogger(__name__)

# Resolves an inbound trunk name to its live ID (known, adopted or created in this apply).
TrunkIds = Callable[[str], str]
# A write whose answer was lost or unreadable may still have been carried out.
UNCERTAIN = "it may have been applied: `sipctl plan` shows what LiveKit holds"


def marker_for(change: Change) -> Marker:
    """The marker a write records: its owner, and the password's salted fingerprint with
    the resource's salt (``sipctl.secrets.salt_for``: the plan showed the same one as the
    change's ``after_fingerprint``). A marker of an older sipctl gets the new format here;
    no API key is involved, so the fingerprint survives a key rotation."""
    assert change.desired is not None
    pw = desired_password(change.desired)
    live = change.live.marker if change.live is not None else None
    fp = None
    if pw:
        recorded = live.auth_fingerprint if live is not None else None
        rid = change.live.id if change.live is not None else None
        fp = fingerprint(pw, salt_for(recorded, rid, change.key))
    if change.kind == "inbound_trunk" and live is not None and live.owner == change.owner:
        # keep the rules ledger; apply brings it up to date after the rules are written
        return Marker(auth_fingerprint=fp, owner=change.owner, rules=live.rules)
    return Marker(auth_fingerprint=fp, owner=change.owner)


def _metadata(change: Change) -> str:
    assert change.desired is not None
    if change.kind == "dispatch_rule":
        # nothing of sipctl's in a rule: its ownership is recorded on inbound trunks
        return mapping.metadata_for(change.desired, None, change.live)
    return mapping.metadata_for(change.desired, marker_for(change))


def build_info(change: Change, trunk_ids: TrunkIds, rid: str = "") -> Any:
    """The full ``SIP*Info`` of a change's desired state (for create and replace)."""
    assert change.desired is not None
    meta = _metadata(change)
    info = mapping.to_proto(change.kind, change.name, change.desired, meta, trunk_ids, rid)
    if rid and change.live is not None:
        mapping.carry_unmodelled(change.kind, info, change.live.info)
    return info


async def create(
    api: LiveKitAPI, conn: ConnectionLike, change: Change, trunk_ids: TrunkIds
) -> LiveResource:
    info = build_info(change, trunk_ids)
    what = f"creating {change.label()}"

    async def lookup() -> Any:
        try:
            found = await find_managed(api, conn, change.kind, change.name, change.owner, like=info)
        except SipctlError as exc:
            # an attempt failed and LiveKit cannot say whether it created the resource
            raise LiveKitError(
                f"{what}: could not look it up after a failed attempt ({exc}); {UNCERTAIN}"
            ) from None
        return found.info if found is not None else None

    if change.kind == "outbound_trunk":
        req: Any = pb.CreateSIPOutboundTrunkRequest(trunk=info)
        send: Any = api.sip.create_outbound_trunk
    elif change.kind == "inbound_trunk":
        req = pb.CreateSIPInboundTrunkRequest(trunk=info)
        send = api.sip.create_inbound_trunk
    else:
        req = pb.CreateSIPDispatchRuleRequest(dispatch_rule=info)
        send = api.sip.create_dispatch_rule
    try:
        got = await call(conn, what, lambda: send(req), before_retry=lookup)
        return _answer(change, got)
    except (UnreadableAnswer, TransientError) as exc:
        # The answer is lost or unreadable, not necessarily the create: look the name up.
        found = await lookup()
        if found is None:
            raise  # LiveKit does not hold it: not created
        log.debug("%s: %s; LiveKit holds it, so it was created", what, exc)
        return _answer(change, found)


def _answer(change: Change, got: Any) -> LiveResource:
    res = mapping.from_proto(change.kind, got)
    if not res.id:
        raise UnreadableAnswer(f"LiveKit answered the write of {change.label()} without an ID")
    return res


_UPDATE = {
    "outbound_trunk": "update_outbound_trunk_fields",
    "inbound_trunk": "update_inbound_trunk_fields",
    "dispatch_rule": "update_dispatch_rule_fields",
}


async def update(
    api: LiveKitAPI, conn: ConnectionLike, change: Change, trunk_ids: TrunkIds
) -> LiveResource:
    """Send only what changed (plus the marker) through LiveKit's ``update``; the
    keywords come from the field table (``sipctl.fields``)."""
    assert change.id is not None and change.desired is not None
    rid = change.id
    rows = change.changed()
    if change.push_password:
        rows.add(PASSWORD)
    kw = mapping.update_args(
        change.kind,
        change.desired,
        rows,
        metadata=_metadata(change),
        old=change.live.model if change.live is not None else None,
        trunk_ids=trunk_ids,
    )
    if change.renamed_from is not None:
        kw["name"] = change.name  # in place: the ID stays
    send = getattr(api.sip, _UPDATE[change.kind])
    got = await call(conn, f"updating {change.label()}", lambda: send(rid, **kw))
    return _answer(change, got)


async def replace(
    api: LiveKitAPI, conn: ConnectionLike, change: Change, trunk_ids: TrunkIds
) -> LiveResource:
    """Send the whole resource (password included): LiveKit keeps only what is sent."""
    assert change.id is not None
    rid = change.id
    info = build_info(change, trunk_ids, rid)
    # The ID travels in the request; LiveKit accepts it in the info only when it matches.
    what = f"replacing {change.label()}"
    if change.kind == "outbound_trunk":
        got: Any = await call(conn, what, lambda: api.sip.update_outbound_trunk(rid, info))
    elif change.kind == "inbound_trunk":
        got = await call(conn, what, lambda: api.sip.update_inbound_trunk(rid, info))
    else:
        got = await call(conn, what, lambda: api.sip.update_dispatch_rule(rid, info))
    return _answer(change, got)


async def delete(api: LiveKitAPI, conn: ConnectionLike, change: Change) -> None:
    assert change.id is not None
    rid = change.id
    what = f"deleting {change.label()}"
    if change.kind == "dispatch_rule":
        attempts = 0

        async def once() -> Any:
            nonlocal attempts
            attempts += 1
            req = pb.DeleteSIPDispatchRuleRequest(sip_dispatch_rule_id=rid)
            return await api.sip.delete_dispatch_rule(req)

        try:
            await call(conn, what, once)
        except ServerAnswer as exc:
            # A retry after a lost answer finds the rule already gone: that is success.
            if not (exc.code == "not_found" and attempts > 1):
                raise
        return
    req = pb.DeleteSIPTrunkRequest(sip_trunk_id=rid)
    await call(conn, what, lambda: api.sip.delete_trunk(req))


async def execute(
    api: LiveKitAPI, conn: ConnectionLike, change: Change, trunk_ids: TrunkIds
) -> LiveResource | None:
    """Apply one change; the resulting live resource (None for a delete)."""
    fields = ", ".join(f.path for f in change.fields) or "-"
    log.debug("%s %s via %s; fields: %s", change.action, change.label(), change.method, fields)
    if change.method == "create":
        return await create(api, conn, change, trunk_ids)  # looks the name up when unsure
    try:
        if change.method == "delete":
            await delete(api, conn, change)
            return None
        if change.method == "replace":
            return await replace(api, conn, change, trunk_ids)
        return await update(api, conn, change, trunk_ids)
    except (UnreadableAnswer, TransientError) as exc:
        raise LiveKitError(f"{exc} ({UNCERTAIN})") from None


async def write_trunk_metadata(
    api: LiveKitAPI, conn: ConnectionLike, trunk_id: str, label: str, metadata: str
) -> None:
    """Record sipctl's bookkeeping (the rules ledger) in an inbound trunk's metadata."""
    what = f"recording dispatch rule ownership on {label}"
    await call(conn, what, lambda: api.sip.update_inbound_trunk_fields(trunk_id, metadata=metadata))


def trunk_resolver(known: Mapping[str, str], created: Mapping[str, str]) -> TrunkIds:
    """Names to IDs: live (managed or adopted) first, then what this apply created."""

    def resolve(name: str) -> str:
        rid = created.get(name) or known.get(name)
        if rid is None:
            raise LiveKitError(f"inbound trunk {name!r} has no ID yet (was it created?)")
        return rid

    return resolve
