"""Write one planned change to LiveKit: create, update, replace or delete.

``update`` is used where LiveKit's update (as the SDK's ``update_*_fields`` send it) can
express every changed field; otherwise ``replace`` sends the whole resource, password
included, with fields sipctl does not model copied from the live resource. Every write
records sipctl's marker (with the password fingerprint) in ``metadata``.

A create whose answer was lost is never blindly repeated: before a retry the name is
looked up, and a resource found there is the one created.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from sipctl.errors import LiveKitError, SipctlError
from sipctl.livekit import mapping
from sipctl.livekit.client import (
    ConnectionLike,
    ServerAnswer,
    TransientError,
    UnreadableAnswer,
    call,
)
from sipctl.livekit.resource import LiveResource
from sipctl.livekit.state import find_managed
from sipctl.models import DispatchRule, InboundTrunk, OutboundTrunk
from sipctl.ownership import Marker
from sipctl.plan import PASSWORD, Change, desired_password, fingerprint

if TYPE_CHECKING:
    from livekit.api import LiveKitAPI

log = logging.getLogger(__name__)

# Resolves an inbound trunk name to its live ID (known, adopted or created in this apply).
TrunkIds = Callable[[str], str]
# A write whose answer was lost or unreadable may still have been carried out.
UNCERTAIN = "it may have been applied: `sipctl plan` shows what LiveKit holds"


def marker_for(change: Change, api_secret: str) -> Marker:
    assert change.desired is not None
    pw = desired_password(change.desired)
    return Marker(auth_fingerprint=fingerprint(pw, api_secret) if pw else None)


def _metadata(change: Change, api_secret: str) -> str:
    assert change.desired is not None
    return mapping.metadata_for(change.desired, marker_for(change, api_secret))


def _trunk_ids(model: DispatchRule, trunk_ids: TrunkIds) -> list[str]:
    return [trunk_ids(name) for name in model.trunks]


def build_info(change: Change, api_secret: str, trunk_ids: TrunkIds, rid: str = "") -> Any:
    """The full ``SIP*Info`` of a change's desired state (for create and replace)."""
    m = change.desired
    meta = _metadata(change, api_secret)
    if isinstance(m, OutboundTrunk):
        info: Any = mapping.outbound_to_proto(change.name, m, meta, rid)
    elif isinstance(m, InboundTrunk):
        info = mapping.inbound_to_proto(change.name, m, meta, rid)
    else:
        assert isinstance(m, DispatchRule)
        info = mapping.dispatch_to_proto(change.name, m, meta, _trunk_ids(m, trunk_ids), rid)
    if rid and change.live is not None:
        mapping.carry_unmodelled(change.kind, info, change.live.info)
    return info


async def create(
    api: LiveKitAPI, conn: ConnectionLike, change: Change, trunk_ids: TrunkIds
) -> LiveResource:
    from livekit.protocol import sip as pb

    info = build_info(change, conn.api_secret, trunk_ids)
    what = f"creating {change.label()}"

    async def lookup() -> Any:
        try:
            found = await find_managed(api, conn, change.kind, change.name)
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
    if change.kind == "outbound_trunk":
        res = mapping.outbound_from_proto(got)
    elif change.kind == "inbound_trunk":
        res = mapping.inbound_from_proto(got)
    else:
        res = mapping.dispatch_from_proto(got, {})
    if not res.id:
        raise UnreadableAnswer(f"LiveKit answered the write of {change.label()} without an ID")
    return res


def _media_update(change: Change) -> Any:
    """``media`` for an update: the whole config (an empty one clears it)."""
    from livekit.protocol import sip as pb

    assert change.desired is not None
    media = mapping.media_to_proto(change.desired.media)
    return media if media is not None else pb.SIPMediaConfig()


async def update(
    api: LiveKitAPI, conn: ConnectionLike, change: Change, trunk_ids: TrunkIds
) -> LiveResource:
    """Send only what changed (plus the marker) through LiveKit's ``update``."""
    assert change.id is not None and change.desired is not None
    rid = change.id
    changed = change.changed()
    what = f"updating {change.label()}"
    meta = _metadata(change, conn.api_secret)
    m = change.desired
    kw: dict[str, Any] = {"metadata": meta}
    if isinstance(m, OutboundTrunk | InboundTrunk):
        if "auth.username" in changed:
            kw["auth_username"] = m.auth.username if m.auth else ""
        if PASSWORD in changed or change.push_password:
            kw["auth_password"] = desired_password(m)
        if "media" in changed:
            kw["media"] = _media_update(change)
        if "numbers" in changed:
            kw["numbers"] = list(m.numbers)
    if isinstance(m, OutboundTrunk):
        if "address" in changed:
            kw["address"] = m.address
        if "transport" in changed:
            kw["transport"] = mapping.transport_to_proto(m.transport)
        got: Any = await call(conn, what, lambda: api.sip.update_outbound_trunk_fields(rid, **kw))
    elif isinstance(m, InboundTrunk):
        for name in ("allowed_addresses", "allowed_numbers"):
            if name in changed:
                kw[name] = list(getattr(m, name))
        got = await call(conn, what, lambda: api.sip.update_inbound_trunk_fields(rid, **kw))
    else:
        assert isinstance(m, DispatchRule)
        if "trunks" in changed:
            kw["trunk_ids"] = _trunk_ids(m, trunk_ids)
        if "rule" in changed:
            kw["rule"] = mapping.rule_to_proto(m.rule)
        if "attributes" in changed:
            old = change.live.model.attributes if change.live and change.live.model else {}  # type: ignore[union-attr]
            # update merges attributes: a removed key is sent with an empty value
            kw["attributes"] = {**{k: "" for k in old}, **m.attributes}
        got = await call(conn, what, lambda: api.sip.update_dispatch_rule_fields(rid, **kw))
    return _answer(change, got)


async def replace(
    api: LiveKitAPI, conn: ConnectionLike, change: Change, trunk_ids: TrunkIds
) -> LiveResource:
    """Send the whole resource (password included): LiveKit keeps only what is sent."""
    assert change.id is not None
    rid = change.id
    info = build_info(change, conn.api_secret, trunk_ids, rid)
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
    from livekit.protocol import sip as pb

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


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, TransientError)


def error_text(exc: BaseException) -> str:
    if isinstance(exc, SipctlError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def trunk_resolver(known: Mapping[str, str], created: Mapping[str, str]) -> TrunkIds:
    """Names to IDs: live (managed or adopted) first, then what this apply created."""

    def resolve(name: str) -> str:
        rid = created.get(name) or known.get(name)
        if rid is None:
            raise LiveKitError(f"inbound trunk {name!r} has no ID yet (was it created?)")
        return rid

    return resolve
