"""The ``livekit.SIP`` Twirp service: trunks, dispatch rules, CreateSIPParticipant.

Mirrors livekit-server pkg/service/sip.go: check order grant -> request validation ->
load -> apply -> (conflict check) -> store; request problems are ``invalid_argument``,
problems found only after applying an ``update`` are plain errors (``unknown``, 500),
unknown IDs are ``not_found`` without the psrpc prefix.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from google.protobuf.message import Message
from livekit.protocol import sip

from sipctl.sandbox import validation as v
from sipctl.sandbox.auth import Grants, require
from sipctl.sandbox.errors import TwirpError
from sipctl.sandbox.rooms import new_id
from sipctl.sandbox.store import Collection, SipStore
from sipctl.sandbox.twirp import Call, plain_error, psrpc_error

M = TypeVar("M", bound=Message)
U = TypeVar("U", bound=Message)
Handler = Callable[[Call, Any], Awaitable[Message]]

TRUNK_NOT_FOUND = "requested sip trunk does not exist"
RULE_NOT_FOUND = "requested sip dispatch rule does not exist"
# psrpc budget livekit-server gives the bridge (sip.go): 30 s, 80 s when waiting for answer.
CALL_TIMEOUT_S = 30.0
CALL_TIMEOUT_ANSWERED_S = 80.0


@dataclass(frozen=True)
class _Kind(Generic[M, U]):
    """What sets outbound trunks, inbound trunks and dispatch rules apart in the checks
    their Create/Update handlers share (``M`` the info message, ``U`` its update)."""

    noun: str  # "trunk" or "rule", as the request errors name the ID
    not_found: str
    validate: Callable[[M], None]
    validate_update: Callable[[U], None]
    apply_update: Callable[[M, U], M]


_OUTBOUND: _Kind[sip.SIPOutboundTrunkInfo, sip.SIPOutboundTrunkUpdate] = _Kind(
    "trunk",
    TRUNK_NOT_FOUND,
    v.validate_outbound_trunk,
    v.validate_outbound_update,
    v.apply_outbound_update,
)
_INBOUND: _Kind[sip.SIPInboundTrunkInfo, sip.SIPInboundTrunkUpdate] = _Kind(
    "trunk",
    TRUNK_NOT_FOUND,
    v.validate_inbound_trunk,
    v.validate_inbound_update,
    v.apply_inbound_update,
)
_DISPATCH: _Kind[sip.SIPDispatchRuleInfo, sip.SIPDispatchRuleUpdate] = _Kind(
    "rule",
    RULE_NOT_FOUND,
    v.validate_dispatch_rule,
    v.validate_dispatch_update,
    v.apply_dispatch_update,
)


class BridgeLike(Protocol):
    """What the SIP bridge (``sipctl.sandbox.bridge.Bridge``) provides to this service."""

    async def create_sip_participant(
        self,
        req: sip.CreateSIPParticipantRequest,
        trunk: sip.SIPOutboundTrunkInfo,
        from_number: str,
    ) -> sip.SIPParticipantInfo: ...

    async def close(self) -> None: ...


def invalid(err: Exception) -> TwirpError:
    return TwirpError("invalid_argument", str(err))


def _admin(call: Call) -> None:
    require(call.grants, call.grants is not None and call.grants.sip_admin)


def _after(page_holder: Message) -> str:
    """Pagination (OSS): with ``page`` only IDs above ``after_id``; ``limit`` never truncates."""
    if page_holder.HasField("page"):
        after: str = page_holder.page.after_id  # type: ignore[attr-defined]
        return after
    return ""


def _inbound_matches(t: sip.SIPInboundTrunkInfo, numbers: Sequence[str]) -> bool:
    """ListSIPInboundTrunkRequest.Filter's number part (normalised; no numbers = wildcard)."""
    if not numbers or not t.numbers:
        return True
    wanted = {v.normalize_number(n) for n in numbers} | set(numbers)
    return any(n in wanted or v.normalize_number(n) in wanted for n in t.numbers)


def _rule_matches(r: sip.SIPDispatchRuleInfo, trunk_ids: Sequence[str]) -> bool:
    """ListSIPDispatchRuleRequest.Filter's trunk part (rules without trunks match all)."""
    return not trunk_ids or not r.trunk_ids or any(t in trunk_ids for t in r.trunk_ids)


def _replaced(items: Iterable[M], item_id: str, new: M, id_of: Callable[[M], str]) -> Iterator[M]:
    for item in items:
        yield new if id_of(item) == item_id else item


class SipService:
    def __init__(
        self,
        store: SipStore,
        bridge: BridgeLike | None,
        *,
        mask_secrets: bool = False,
        logger: logging.Logger | None = None,
    ) -> None:
        self.store = store
        self.bridge = bridge
        self.mask_secrets = mask_secrets
        self.log = logger or logging.getLogger(__name__)
        self.handlers: dict[str, Handler] = {
            "ListSIPTrunk": self.list_sip_trunk,
            "CreateSIPInboundTrunk": self.create_inbound_trunk,
            "CreateSIPOutboundTrunk": self.create_outbound_trunk,
            "UpdateSIPInboundTrunk": self.update_inbound_trunk,
            "UpdateSIPOutboundTrunk": self.update_outbound_trunk,
            "GetSIPInboundTrunk": self.get_inbound_trunk,
            "GetSIPOutboundTrunk": self.get_outbound_trunk,
            "ListSIPInboundTrunk": self.list_inbound_trunk,
            "ListSIPOutboundTrunk": self.list_outbound_trunk,
            "DeleteSIPTrunk": self.delete_trunk,
            "CreateSIPDispatchRule": self.create_dispatch_rule,
            "UpdateSIPDispatchRule": self.update_dispatch_rule,
            "ListSIPDispatchRule": self.list_dispatch_rule,
            "DeleteSIPDispatchRule": self.delete_dispatch_rule,
            "CreateSIPParticipant": self.create_sip_participant,
            "TransferSIPParticipant": self.transfer_sip_participant,
        }

    # --- helpers -------------------------------------------------------------------------

    def _new_id(self, prefix: str, col: Collection[M]) -> str:
        while True:
            item_id = new_id(prefix)
            if item_id not in col:
                return item_id

    def _masked(self, msg: M) -> M:
        """A copy safe to answer with: ``auth_password`` emptied under --mask-secrets."""
        if not self.mask_secrets or "auth_password" not in msg.DESCRIPTOR.fields_by_name:
            return msg
        out = type(msg)()
        out.CopyFrom(msg)
        out.auth_password = ""  # type: ignore[attr-defined]
        return out

    def _mask_items(self, items: Iterable[Message]) -> None:
        if self.mask_secrets:
            for item in items:
                for name in ("auth_password", "inbound_password", "outbound_password"):
                    if name in item.DESCRIPTOR.fields_by_name:
                        setattr(item, name, "")

    def _new_trunk(self, col: Collection[M], kind: _Kind[M, Any], trunk: M | None) -> M:
        """CreateSIP*Trunk's request checks; returns a copy of ``trunk``, still without ID."""
        if trunk is None:
            raise invalid(ValueError("missing trunk"))
        if col.id_of(trunk):
            raise invalid(ValueError("trunk id must not be set"))
        try:
            kind.validate(trunk)
        except v.Invalid as e:
            raise invalid(e) from None
        info = type(trunk)()
        info.CopyFrom(trunk)
        return info

    def _updated(
        self,
        col: Collection[M],
        kind: _Kind[M, U],
        item_id: str,
        action: str | None,
        replace: M,
        update: U,
    ) -> M:
        """UpdateSIP*'s shared steps: check the request, load the stored item and return
        it with ``replace`` or ``update`` applied (conflict checks and saving are left to
        the caller)."""
        if not item_id:
            raise invalid(ValueError(f"{kind.noun} id must be set"))
        try:
            if action == "replace":
                if col.id_of(replace) not in ("", item_id):
                    raise v.Invalid(
                        f"{kind.noun} id in the info must be empty or match the id in the update"
                    )
                kind.validate(replace)
            elif action == "update":
                kind.validate_update(update)
            else:
                raise v.Invalid("missing or unsupported update action")
        except v.Invalid as e:
            raise invalid(e) from None
        current = col.get(item_id)
        if current is None:
            raise TwirpError("not_found", kind.not_found)
        try:
            if action == "replace":
                info = type(replace)()
                info.CopyFrom(replace)
                setattr(info, col.id_field, item_id)
            else:
                info = kind.apply_update(current, update)
        except v.Invalid as e:
            raise plain_error(str(e)) from None
        return info

    def _stored_trunk(self, col: Collection[M], trunk_id: str) -> M:
        """GetSIP*Trunk's checks: the ID is required and must name a stored trunk."""
        if not trunk_id:
            raise invalid(ValueError("trunk ID is required"))
        info = col.get(trunk_id)
        if info is None:
            raise TwirpError("not_found", TRUNK_NOT_FOUND)
        return info

    @staticmethod
    def _page(col: Collection[M], req: Message, ids: Sequence[str]) -> Iterable[M]:
        """The items a List* request starts from: its page, restricted to ``ids`` if any."""
        items: Iterable[M] = col.values(_after(req))
        if ids:
            wanted = set(ids)
            items = (item for item in items if col.id_of(item) in wanted)
        return items

    # --- outbound trunks -----------------------------------------------------------------

    async def create_outbound_trunk(
        self, call: Call, req: sip.CreateSIPOutboundTrunkRequest
    ) -> sip.SIPOutboundTrunkInfo:
        _admin(call)
        trunk = req.trunk if req.HasField("trunk") else None
        info = self._new_trunk(self.store.outbound, _OUTBOUND, trunk)
        info.sip_trunk_id = self._new_id("ST_", self.store.outbound)
        self.store.save(self.store.outbound, info)
        return self._masked(info)

    async def update_outbound_trunk(
        self, call: Call, req: sip.UpdateSIPOutboundTrunkRequest
    ) -> sip.SIPOutboundTrunkInfo:
        _admin(call)
        info = self._updated(
            self.store.outbound,
            _OUTBOUND,
            req.sip_trunk_id,
            req.WhichOneof("action"),
            req.replace,
            req.update,
        )
        self.store.save(self.store.outbound, info)
        return self._masked(info)

    async def get_outbound_trunk(
        self, call: Call, req: sip.GetSIPOutboundTrunkRequest
    ) -> sip.GetSIPOutboundTrunkResponse:
        _admin(call)
        info = self._stored_trunk(self.store.outbound, req.sip_trunk_id)
        return sip.GetSIPOutboundTrunkResponse(trunk=self._masked(info))

    async def list_outbound_trunk(
        self, call: Call, req: sip.ListSIPOutboundTrunkRequest
    ) -> sip.ListSIPOutboundTrunkResponse:
        _admin(call)
        items = self._page(self.store.outbound, req, req.trunk_ids)
        if req.numbers:
            numbers = set(req.numbers)
            # Outbound number filter is exact; trunks without numbers always match.
            items = (t for t in items if not t.numbers or any(n in numbers for n in t.numbers))
        resp = sip.ListSIPOutboundTrunkResponse()
        resp.items.extend(items)
        self._mask_items(resp.items)
        return resp

    # --- inbound trunks ------------------------------------------------------------------

    def _check_inbound(
        self, numbers: Sequence[str], trunks: Iterable[sip.SIPInboundTrunkInfo]
    ) -> None:
        try:
            v.check_inbound_conflicts(t for t in trunks if _inbound_matches(t, numbers))
        except v.Invalid as e:
            raise invalid(e) from None

    async def create_inbound_trunk(
        self, call: Call, req: sip.CreateSIPInboundTrunkRequest
    ) -> sip.SIPInboundTrunkInfo:
        _admin(call)
        trunk = req.trunk if req.HasField("trunk") else None
        info = self._new_trunk(self.store.inbound, _INBOUND, trunk)
        # The new trunk is checked last and without an ID, so messages name it "<new>".
        self._check_inbound(info.numbers, [*self.store.inbound.values(), info])
        info.sip_trunk_id = self._new_id("ST_", self.store.inbound)
        self.store.save(self.store.inbound, info)
        return self._masked(info)

    async def update_inbound_trunk(
        self, call: Call, req: sip.UpdateSIPInboundTrunkRequest
    ) -> sip.SIPInboundTrunkInfo:
        _admin(call)
        info = self._updated(
            self.store.inbound,
            _INBOUND,
            req.sip_trunk_id,
            req.WhichOneof("action"),
            req.replace,
            req.update,
        )
        # As the server does: list by the *new* numbers, then swap in the updated trunk.
        listed = (t for t in self.store.inbound.values() if _inbound_matches(t, info.numbers))
        self._check_inbound(
            (), _replaced(listed, info.sip_trunk_id, info, lambda t: t.sip_trunk_id)
        )
        self.store.save(self.store.inbound, info)
        return self._masked(info)

    async def get_inbound_trunk(
        self, call: Call, req: sip.GetSIPInboundTrunkRequest
    ) -> sip.GetSIPInboundTrunkResponse:
        _admin(call)
        info = self._stored_trunk(self.store.inbound, req.sip_trunk_id)
        return sip.GetSIPInboundTrunkResponse(trunk=self._masked(info))

    async def list_inbound_trunk(
        self, call: Call, req: sip.ListSIPInboundTrunkRequest
    ) -> sip.ListSIPInboundTrunkResponse:
        _admin(call)
        items = self._page(self.store.inbound, req, req.trunk_ids)
        if req.numbers:
            numbers = list(req.numbers)
            items = (t for t in items if _inbound_matches(t, numbers))
        resp = sip.ListSIPInboundTrunkResponse()
        resp.items.extend(items)
        self._mask_items(resp.items)
        return resp

    # --- both kinds ----------------------------------------------------------------------

    async def delete_trunk(self, call: Call, req: sip.DeleteSIPTrunkRequest) -> sip.SIPTrunkInfo:
        _admin(call)
        if not req.sip_trunk_id:
            raise invalid(ValueError("trunk ID is required"))
        # Idempotent as in OSS: the ID is removed wherever it is, success either way.
        self.store.remove(self.store.outbound, req.sip_trunk_id)
        self.store.remove(self.store.inbound, req.sip_trunk_id)
        return sip.SIPTrunkInfo(sip_trunk_id=req.sip_trunk_id)

    async def list_sip_trunk(
        self, call: Call, req: sip.ListSIPTrunkRequest
    ) -> sip.ListSIPTrunkResponse:
        """Deprecated legacy listing: both kinds as SIPTrunkInfo, sorted by ID."""
        _admin(call)
        after = _after(req)
        legacy: list[sip.SIPTrunkInfo] = []
        for t in self.store.outbound.values(after):
            legacy.append(
                sip.SIPTrunkInfo(
                    sip_trunk_id=t.sip_trunk_id,
                    kind=sip.SIPTrunkInfo.TRUNK_OUTBOUND,
                    name=t.name,
                    metadata=t.metadata,
                    outbound_address=t.address,
                    transport=t.transport,
                    outbound_number=t.numbers[0] if t.numbers else "",
                    outbound_username=t.auth_username,
                    outbound_password=t.auth_password,
                )
            )
        for i in self.store.inbound.values(after):
            legacy.append(
                sip.SIPTrunkInfo(
                    sip_trunk_id=i.sip_trunk_id,
                    kind=sip.SIPTrunkInfo.TRUNK_INBOUND,
                    name=i.name,
                    metadata=i.metadata,
                    outbound_number=i.numbers[0] if i.numbers else "",
                    inbound_addresses=i.allowed_addresses,
                    inbound_numbers=i.allowed_numbers,
                    inbound_username=i.auth_username,
                    inbound_password=i.auth_password,
                )
            )
        legacy.sort(key=lambda t: t.sip_trunk_id)
        resp = sip.ListSIPTrunkResponse(items=legacy)
        self._mask_items(resp.items)
        return resp

    # --- dispatch rules ------------------------------------------------------------------

    def _check_rules(self, rules: Iterable[sip.SIPDispatchRuleInfo]) -> None:
        try:
            v.check_dispatch_conflicts(rules)
        except v.Invalid as e:
            raise invalid(e) from None
        except v.UnsupportedRule as e:
            raise plain_error(str(e)) from None

    async def create_dispatch_rule(
        self, call: Call, req: sip.CreateSIPDispatchRuleRequest
    ) -> sip.SIPDispatchRuleInfo:
        _admin(call)
        info = sip.SIPDispatchRuleInfo()
        if req.HasField("dispatch_rule"):
            info.CopyFrom(req.dispatch_rule)
            v.upgrade_media(info)
            if info.sip_dispatch_rule_id:
                raise invalid(ValueError("rule id must not be set"))
        else:  # legacy flat request
            if req.HasField("rule"):
                info.rule.CopyFrom(req.rule)
            info.trunk_ids.extend(req.trunk_ids)
            info.inbound_numbers.extend(req.inbound_numbers)
            info.hide_phone_number = req.hide_phone_number
            info.name = req.name
            info.metadata = req.metadata
            info.attributes.update(req.attributes)
            info.room_preset = req.room_preset
            if req.HasField("room_config"):
                info.room_config.CopyFrom(req.room_config)
        try:
            v.validate_dispatch_rule(info)
        except v.Invalid as e:
            raise invalid(e) from None
        listed = (r for r in self.store.dispatch.values() if _rule_matches(r, req.trunk_ids))
        self._check_rules([*listed, info])
        info.sip_dispatch_rule_id = self._new_id("SDR_", self.store.dispatch)
        self.store.save(self.store.dispatch, info)
        return info

    async def update_dispatch_rule(
        self, call: Call, req: sip.UpdateSIPDispatchRuleRequest
    ) -> sip.SIPDispatchRuleInfo:
        _admin(call)
        info = self._updated(
            self.store.dispatch,
            _DISPATCH,
            req.sip_dispatch_rule_id,
            req.WhichOneof("action"),
            req.replace,
            req.update,
        )
        listed = (r for r in self.store.dispatch.values() if _rule_matches(r, info.trunk_ids))
        self._check_rules(
            _replaced(listed, info.sip_dispatch_rule_id, info, lambda r: r.sip_dispatch_rule_id)
        )
        self.store.save(self.store.dispatch, info)
        return info

    async def list_dispatch_rule(
        self, call: Call, req: sip.ListSIPDispatchRuleRequest
    ) -> sip.ListSIPDispatchRuleResponse:
        _admin(call)
        items = self._page(self.store.dispatch, req, req.dispatch_rule_ids)
        if req.trunk_ids:
            trunk_ids = list(req.trunk_ids)
            items = (r for r in items if _rule_matches(r, trunk_ids))
        resp = sip.ListSIPDispatchRuleResponse()
        resp.items.extend(items)
        return resp

    async def delete_dispatch_rule(
        self, call: Call, req: sip.DeleteSIPDispatchRuleRequest
    ) -> sip.SIPDispatchRuleInfo:
        _admin(call)
        if not req.sip_dispatch_rule_id:
            raise invalid(ValueError("dispatch rule ID is required"))
        info = self.store.dispatch.get(req.sip_dispatch_rule_id)
        if info is None:
            raise TwirpError("not_found", RULE_NOT_FOUND)
        self.store.remove(self.store.dispatch, req.sip_dispatch_rule_id)
        return info

    # --- calls ---------------------------------------------------------------------------

    def prepare_participant(
        self, grants: Grants | None, req: sip.CreateSIPParticipantRequest
    ) -> tuple[sip.SIPOutboundTrunkInfo, str]:
        """Checks of CreateSIPParticipant before dialing (reference §5.2 steps 1-5):
        returns the trunk to dial (stored, or built from the inline config) and the From
        number."""
        require(grants, grants is not None and grants.sip_call)
        v.upgrade_participant_request(req)
        try:
            v.validate_create_sip_participant(req)
        except v.Invalid as e:
            raise invalid(e) from None
        stored: sip.SIPOutboundTrunkInfo | None = None
        if req.sip_trunk_id:
            stored = self.store.outbound.get(req.sip_trunk_id)
            if stored is None:
                raise TwirpError("not_found", TRUNK_NOT_FOUND)
        number = req.sip_number
        if not number:
            if stored is None or len(stored.numbers) == 0:
                raise psrpc_error("failed_precondition", "no numbers on outbound trunk")
            number = random.choice(list(stored.numbers))
        trunk = sip.SIPOutboundTrunkInfo()
        if stored is not None:
            trunk.CopyFrom(stored)
        elif req.HasField("trunk"):
            c = req.trunk
            trunk.address = c.hostname
            trunk.destination_country = c.destination_country
            trunk.transport = c.transport
            trunk.auth_username = c.auth_username
            trunk.auth_password = c.auth_password
            trunk.headers_to_attributes.update(c.headers_to_attributes)
            trunk.attributes_to_headers.update(c.attributes_to_headers)
            trunk.from_host = c.from_host
        if trunk.address.endswith("twilio.com") and not number.startswith("+"):
            number = "+" + number  # Twilio requires E.164 with '+' (rpc/sip.go)
        return trunk, number

    async def create_sip_participant(
        self, call: Call, req: sip.CreateSIPParticipantRequest
    ) -> sip.SIPParticipantInfo:
        trunk, number = self.prepare_participant(call.grants, req)
        if self.bridge is None:
            raise psrpc_error("unavailable", "no response from servers")
        timeout = call.timeout_s
        if timeout is None:
            timeout = CALL_TIMEOUT_ANSWERED_S if req.wait_until_answered else CALL_TIMEOUT_S
        try:
            return await asyncio.wait_for(
                self.bridge.create_sip_participant(req, trunk, number), timeout
            )
        except TimeoutError:
            raise psrpc_error("deadline_exceeded", "request timed out") from None

    async def transfer_sip_participant(
        self, call: Call, req: sip.TransferSIPParticipantRequest
    ) -> Message:
        # Same order as the server: room and identity first, then grants, then the rest.
        if not req.room_name:
            raise psrpc_error("invalid_argument", "Missing room name")
        if not req.participant_identity:
            raise psrpc_error("invalid_argument", "Missing participant identity")
        grants = call.grants
        require(grants, grants is not None and grants.sip_call)
        require(grants, grants is not None and grants.room_admin_for(req.room_name))
        if not req.transfer_to:
            raise invalid(ValueError("missing transfer to"))
        transfer = getattr(self.bridge, "transfer_sip_participant", None)
        if transfer is None:
            raise TwirpError(
                "unimplemented", "TransferSIPParticipant is not supported by the sandbox"
            )
        result: Message = await transfer(req)
        return result
