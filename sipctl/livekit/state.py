"""Read every outbound trunk, inbound trunk and dispatch rule, and sort them by ownership.

Lists follow pagination to the end. LiveKit OSS returns everything in one answer whatever
the limit (livekit/livekit pkg/service/sip.go, ``SIPService.ListSIPOutboundTrunk``
collects its store's iterator with ``iters.All``); a server honouring ``limit`` returns
pages. A page that is not exactly ``limit`` long is the last (one request, not two, for
a project under the limit).
A resource carrying sipctl's marker is *managed* and identified by its name; anything else
is *unmanaged* and never touched. Two managed resources of one kind with the same name
are reported (nothing may be applied then).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from livekit.protocol.models import Pagination
from livekit.protocol.sip import (
    ListSIPDispatchRuleRequest,
    ListSIPInboundTrunkRequest,
    ListSIPOutboundTrunkRequest,
)

from sipctl.errors import LiveKitError
from sipctl.fields import ID_FIELD, TITLE, Kind
from sipctl.live import LiveResource, LiveState
from sipctl.livekit.client import ConnectionLike, call
from sipctl.livekit.mapping import from_proto

if TYPE_CHECKING:
    from livekit.api import LiveKitAPI

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
# A server that ignores after_id would loop forever; no project has this many resources.
MAX_PAGES = 10_000


async def _paginate(
    conn: ConnectionLike,
    what: str,
    fetch: Callable[[Any], Awaitable[Sequence[Any]]],
    make_page: Callable[[str, int], Any],
    id_of: Callable[[Any], str],
    page_size: int = PAGE_SIZE,
) -> list[Any]:
    """Call ``fetch(page)`` from the start until a page is not full or adds nothing new."""
    items: list[Any] = []
    seen: set[str] = set()
    after = ""
    t0 = time.monotonic()
    for pages in range(1, MAX_PAGES + 1):
        page = make_page(after, page_size)
        got = await call(conn, what, functools.partial(fetch, page))
        new = [it for it in got if id_of(it) not in seen]
        if not new:
            log.debug("%s: %d in %d pages, %.3fs", what, len(items), pages, time.monotonic() - t0)
            return items
        for it in new:
            seen.add(id_of(it))
        items.extend(new)
        if len(got) != page_size:
            # fewer than asked: the last page; more: the server ignores ``limit`` (LiveKit
            # OSS) and sent everything. Either way, no request for an empty page.
            log.debug("%s: %d in %d pages, %.3fs", what, len(items), pages, time.monotonic() - t0)
            return items
        last = max(id_of(it) for it in new)
        if last <= after:
            return items  # the server does not move forward: it sent everything
        after = last
    raise LiveKitError(f"{what}: LiveKit kept returning new pages after {MAX_PAGES} requests")


async def _list(
    conn: ConnectionLike, what: str, method: Any, request: Any, id_field: str
) -> list[Any]:
    """Every item of one SIP List method (``method`` is bound to the client)."""

    async def fetch(req: Any) -> Sequence[Any]:
        return list((await method(req)).items)

    return await _paginate(
        conn,
        what,
        fetch,
        lambda after, n: request(page=Pagination(after_id=after, limit=n)),
        lambda item: str(getattr(item, id_field)),
    )


async def list_outbound(api: LiveKitAPI, conn: ConnectionLike) -> list[Any]:
    return await _list(
        conn,
        "listing outbound trunks",
        api.sip.list_outbound_trunk,
        ListSIPOutboundTrunkRequest,
        "sip_trunk_id",
    )


async def list_inbound(api: LiveKitAPI, conn: ConnectionLike) -> list[Any]:
    return await _list(
        conn,
        "listing inbound trunks",
        api.sip.list_inbound_trunk,
        ListSIPInboundTrunkRequest,
        "sip_trunk_id",
    )


async def list_dispatch(api: LiveKitAPI, conn: ConnectionLike) -> list[Any]:
    return await _list(
        conn,
        "listing dispatch rules",
        api.sip.list_dispatch_rule,
        ListSIPDispatchRuleRequest,
        "sip_dispatch_rule_id",
    )


def build_state(
    outbound: Sequence[Any],
    inbound: Sequence[Any],
    rules: Sequence[Any],
    owner: str | None = None,
) -> LiveState:
    """Map the listed protobufs to models and sort them by ownership (for ``owner``)."""
    state = LiveState(owner=owner)
    for info in outbound:
        state.add(from_proto("outbound_trunk", info))
    for info in inbound:
        res = from_proto("inbound_trunk", info)
        state.add(res)
        if res.id:
            state.inbound_names[res.id] = res.name
    for info in rules:
        state.add(from_proto("dispatch_rule", info, state.inbound_names))
    return state


async def read_state(api: LiveKitAPI, conn: ConnectionLike, owner: str | None = None) -> LiveState:
    """List all three kinds concurrently and build the :class:`LiveState`."""
    outbound, inbound, rules = await asyncio.gather(
        list_outbound(api, conn), list_inbound(api, conn), list_dispatch(api, conn)
    )
    return build_state(outbound, inbound, rules, owner)


_BY_ID: dict[str, tuple[Any, str, str]] = {
    "outbound_trunk": (ListSIPOutboundTrunkRequest, "trunk_ids", "list_outbound_trunk"),
    "inbound_trunk": (ListSIPInboundTrunkRequest, "trunk_ids", "list_inbound_trunk"),
    "dispatch_rule": (ListSIPDispatchRuleRequest, "dispatch_rule_ids", "list_dispatch_rule"),
}


async def read_one(
    api: LiveKitAPI,
    conn: ConnectionLike,
    kind: Kind,
    rid: str,
    trunk_names: Mapping[str, str],
) -> LiveResource | None:
    """One resource by ID, as LiveKit lists it now (None when it is not there). A server
    that ignores the ID filter lists everything: the ID is picked out either way."""
    request, ids, method = _BY_ID[kind]
    what = f"reading back {TITLE[kind]} {rid}"
    got = await call(conn, what, lambda: getattr(api.sip, method)(request(**{ids: [rid]})))
    for info in got.items:
        if getattr(info, ID_FIELD[kind]) == rid:
            return from_proto(kind, info, trunk_names)
    return None


async def find_managed(
    api: LiveKitAPI,
    conn: ConnectionLike,
    kind: Kind,
    name: str,
    owner: str | None,
    like: Any = None,
) -> LiveResource | None:
    """Look one resource of ``owner`` up by name (before retrying a create). A dispatch
    rule carries no marker (sipctl.ledger): the one found is the unrecorded rule of that
    name whose rule and trunks are those of ``like``, the info that was sent."""
    lister = {"outbound_trunk": list_outbound, "inbound_trunk": list_inbound}.get(
        kind, list_dispatch
    )
    items = [from_proto(kind, i) for i in await lister(api, conn)]
    if kind == "dispatch_rule":
        return next(
            (
                r
                for r in items
                if r.name == name
                and r.marker is None
                and like is not None
                and r.info.rule == like.rule
                and list(r.info.trunk_ids) == list(like.trunk_ids)
            ),
            None,
        )
    mine = (r for r in items if r.marker is not None and r.marker.owner == owner)
    return next((r for r in mine if r.name == name), None)
