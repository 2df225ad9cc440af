"""Inbound call routing: which inbound trunk and dispatch rule take a call, as LiveKit decides.

Imitates, step by step (none of this is shared with sipctl's own route prediction):

* livekit-server ``pkg/service/ioservice_sip.go``: GetSIPTrunkAuthentication and
  EvaluateSIPDispatchRules (``matchSIPTrunk`` lists inbound trunks filtered by the called
  number, ``matchSIPDispatchRule`` lists rules filtered by the trunk ID; no rule -> DROP);
* livekit/protocol ``sip/sip.go``: MatchTrunkDetailed (allowed_numbers, allowed_addresses
  with CIDRs and the From host, a trunk for the number beats the default trunk, two of
  either kind conflict), MatchDispatchRuleIter (inbound_numbers and numbers exactly, the
  PIN filter, specific rules before wildcard ones, DispatchRulePriority), the
  DispatchRuleValidator conflict check, and EvaluateDispatchRule (room name per rule kind,
  identity, name, attributes, hide_phone_number, REQUEST_PIN);
* livekit/protocol ``livekit/sip.go``: NormalizeNumber and the List filters.

:func:`route` is the whole decision for one call; the SIP side (``sipctl.sandbox.inbound``)
and the admin endpoint ``POST /_sandbox/route`` both use it.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from livekit.protocol.sip import SIPDispatchRuleInfo, SIPInboundTrunkInfo

from sipctl.sandbox.rooms import new_id
from sipctl.sandbox.validation import normalize_number

# livekit/protocol livekit/attrs.go (AttrSIP*)
ATTR_CALL_ID = "sip.callID"
ATTR_TRUNK_ID = "sip.trunkID"
ATTR_RULE_ID = "sip.ruleID"
ATTR_PHONE = "sip.phoneNumber"
ATTR_HOST = "sip.hostname"
ATTR_TRUNK_PHONE = "sip.trunkPhoneNumber"


@dataclass
class InboundCall:
    """What the bridge knows of an INVITE (rpc.SIPCall)."""

    to_user: str
    from_user: str
    from_host: str = ""
    to_host: str = ""
    source_ip: str = ""
    call_id: str = ""  # the SCL_ call ID (the To tag the bridge gives the dialog)


class RoutingError(Exception):
    """A Twirp error from the evaluation (conflicts): the bridge answers 503."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


@dataclass
class Decision:
    """EvaluateSIPDispatchRulesResponse, reduced to what the sandbox uses."""

    result: str  # "accept", "request_pin" or "drop"
    trunk: SIPInboundTrunkInfo | None = None
    rule: SIPDispatchRuleInfo | None = None
    room_name: str = ""
    identity: str = ""
    name: str = ""
    metadata: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    reason: str = ""  # why a call was dropped (ErrNoDispatchMatched's text)


# --- trunks ------------------------------------------------------------------------------


def _valid_mask(mask: str) -> bool:
    # sip.go isValidMask
    return not any(c in mask for c in "()+*;, \t\n\r") and "://" not in mask


def _match_mask(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, mask: str) -> bool:
    # sip.go matchAddrMask: a plain address must be equal; a prefix must contain it
    try:
        if "/" not in mask:
            return ip == ipaddress.ip_address(mask.strip("[]"))
        return ip in ipaddress.ip_network(mask.replace("[", "").replace("]", ""), strict=False)
    except ValueError:
        return False


def match_addresses(source_ip: str, from_host: str, masks: Sequence[str]) -> bool:
    """sip.go matchAddrMasks: an unparsable source or no valid mask allows everything."""
    try:
        ip = ipaddress.ip_address(source_ip)
    except ValueError:
        return True
    valid = [m for m in masks if _valid_mask(m)]
    if not valid:
        return True
    return any(m == from_host or _match_mask(ip, m) for m in valid)


def match_numbers(num: str, allowed: Sequence[str]) -> bool:
    """sip.go matchNumbers: exact, or equal once both are normalised."""
    if not allowed:
        return True
    norm = normalize_number(num)
    return any(num == a or norm == normalize_number(a) for a in allowed)


def _listed_for_number(trunk: SIPInboundTrunkInfo, called: str) -> bool:
    # ListSIPInboundTrunkRequest.Filter with Numbers=[called] (ioservice_sip.go
    # SelectSIPInboundTrunk): trunks without numbers always pass
    if not trunk.numbers:
        return True
    norm = normalize_number(called)
    return any(n == called or normalize_number(n) == norm for n in trunk.numbers)


def match_trunk(
    trunks: Sequence[SIPInboundTrunkInfo], call: InboundCall
) -> SIPInboundTrunkInfo | None:
    """sip.go MatchTrunkDetailed over the listed trunks (in ID order, as the store lists)."""
    selected: SIPInboundTrunkInfo | None = None
    defaults = 0
    default: SIPInboundTrunkInfo | None = None
    called_norm = normalize_number(call.to_user)
    for tr in sorted(trunks, key=lambda t: t.sip_trunk_id):
        if not _listed_for_number(tr, call.to_user):
            continue
        if not match_numbers(call.from_user, tr.allowed_numbers):
            continue
        if not match_addresses(call.source_ip, call.from_host, tr.allowed_addresses):
            continue
        if not tr.numbers:
            defaults += 1
            default = tr
            continue
        if any(n == call.to_user or normalize_number(n) == called_norm for n in tr.numbers):
            if selected is not None:
                raise RoutingError(
                    "failed_precondition", f"Multiple SIP Trunks matched for {_q(call.to_user)}"
                )
            selected = tr
    if selected is not None:
        return selected
    if defaults > 1:
        raise RoutingError(
            "failed_precondition", f"Multiple default SIP Trunks matched for {_q(call.to_user)}"
        )
    return default


def _q(s: str) -> str:
    # Go's %q for the plain strings that reach here
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- dispatch rules ----------------------------------------------------------------------


def pin_and_room(rule: SIPDispatchRuleInfo) -> tuple[str, str]:
    """sip.go GetPinAndRoom: (room name or prefix, pin)."""
    kind = rule.rule.WhichOneof("rule")
    if kind == "dispatch_rule_direct":
        d = rule.rule.dispatch_rule_direct
        return d.room_name, d.pin
    if kind == "dispatch_rule_individual":
        i = rule.rule.dispatch_rule_individual
        return i.room_prefix, i.pin
    if kind == "dispatch_rule_callee":
        c = rule.rule.dispatch_rule_callee
        return c.room_prefix, c.pin
    raise ValueError(f"unsupported SIP Dispatch Rule: {kind}")


def priority(rule: SIPDispatchRuleInfo) -> int:
    """sip.go DispatchRulePriority (lower wins): PIN rules first, then by kind, and a
    1000 penalty each for no inbound_numbers and no numbers."""
    kind = rule.rule.WhichOneof("rule")
    base = {"dispatch_rule_direct": 0, "dispatch_rule_individual": 1, "dispatch_rule_callee": 2}
    if kind not in base:
        return 2**31 - 1
    _, pin = pin_and_room(rule)
    p = base[kind] + (0 if pin else 100)
    if not rule.inbound_numbers:
        p += 1000
    if not rule.numbers:
        p += 1000
    return p


def _higher(r1: SIPDispatchRuleInfo, r2: SIPDispatchRuleInfo) -> bool:
    # sip.go hasHigherPriority: priority, then room name (prefix) for a stable order
    p1, p2 = priority(r1), priority(r2)
    if p1 != p2:
        return p1 < p2
    return pin_and_room(r1)[0] < pin_and_room(r2)[0]


def _check_conflicts(rules: Sequence[SIPDispatchRuleInfo]) -> None:
    # sip.go DispatchRuleValidator.Validate, applied to every listed rule while iterating
    seen: dict[tuple[str, str, str, str], SIPDispatchRuleInfo] = {}
    for r in rules:
        try:
            _, pin = pin_and_room(r)
        except ValueError as e:
            raise RoutingError("invalid_argument", str(e)) from None
        for trunk in list(r.trunk_ids) or [""]:
            for inbound in list(r.inbound_numbers) or [""]:
                for number in list(r.numbers) or [""]:
                    key = (pin, trunk, normalize_number(inbound), normalize_number(number))
                    other = seen.get(key)
                    if other is not None:
                        raise RoutingError(
                            "invalid_argument",
                            "Dispatch rule for the same trunk, inbound number, number, and PIN "
                            "combination already exists in dispatch rule "
                            f"{_q(other.sip_dispatch_rule_id or '<new>')} "
                            f"{_q(other.name or '<empty>')}",
                        )
                    seen[key] = r


def match_rule(
    trunk: SIPInboundTrunkInfo | None,
    rules: Sequence[SIPDispatchRuleInfo],
    call: InboundCall,
    *,
    pin: str = "",
    no_pin: bool = False,
) -> tuple[SIPDispatchRuleInfo | None, str]:
    """sip.go MatchDispatchRuleIter over the rules listed for the trunk; returns the rule,
    or None and ErrNoDispatchMatched's text (which makes the server answer DROP)."""
    trunk_id = trunk.sip_trunk_id if trunk is not None else ""
    # ioservice_sip.go SelectSIPDispatchRule: ListSIPDispatchRuleRequest{TrunkIds} keeps
    # rules for that trunk and rules without trunks (all rules when there is no trunk)
    listed = [
        r
        for r in sorted(rules, key=lambda r: r.sip_dispatch_rule_id)
        if not trunk_id or not r.trunk_ids or trunk_id in r.trunk_ids
    ]
    _check_conflicts(listed)
    specific: SIPDispatchRuleInfo | None = None
    default: SIPDispatchRuleInfo | None = None
    count = 0
    for r in listed:
        if r.inbound_numbers and call.from_user not in r.inbound_numbers:
            continue
        if r.numbers and call.to_user not in r.numbers:
            continue
        _, rule_pin = pin_and_room(r)
        if no_pin:
            if rule_pin:
                continue
        elif pin and pin != rule_pin:  # a sent PIN never falls back to open rules
            continue
        if not r.trunk_ids:
            count += 1
            if default is None or _higher(r, default):
                default = r
            continue
        if trunk is None or trunk_id not in r.trunk_ids:
            continue
        count += 1
        if specific is None or _higher(r, specific):
            specific = r
    if specific is not None:
        return specific, ""
    if default is not None:
        return default, ""
    # sip.go ErrNoDispatchMatched.Error
    if count == 0:
        return None, "No SIP Dispatch Rules defined"
    return None, f"No SIP Dispatch Rules matched for {_q(call.to_user)}"  # pragma: no cover


def evaluate(
    trunk: SIPInboundTrunkInfo | None,
    rule: SIPDispatchRuleInfo,
    call: InboundCall,
    *,
    pin: str = "",
) -> Decision:
    """sip.go EvaluateDispatchRule: the room, the participant and its attributes."""
    attrs = dict(rule.attributes)
    attrs[ATTR_CALL_ID] = call.call_id
    attrs[ATTR_TRUNK_ID] = trunk.sip_trunk_id if trunk is not None else ""
    to, frm = call.to_user, call.from_user
    from_name = "Phone " + frm
    from_id = "sip_" + frm
    if rule.hide_phone_number:
        digest = hashlib.sha256(frm.encode()).digest()
        from_id = "sip_" + digest[:8].hex()
        n = 4 if len(frm) > 4 else 1
        frm = frm[len(frm) - n :]
        from_name = "Phone " + frm
    else:
        attrs[ATTR_PHONE] = call.from_user
        attrs[ATTR_HOST] = call.from_host
        attrs[ATTR_TRUNK_PHONE] = call.to_user
    room, rule_pin = pin_and_room(rule)
    if rule_pin:
        if not pin:
            return Decision("request_pin", trunk=trunk, rule=rule)
        if rule_pin != pin:  # unreachable after match_rule, as in sip.go
            raise RoutingError("permission_denied", "Incorrect PIN for SIP room")
    kind = rule.rule.WhichOneof("rule")
    if kind == "dispatch_rule_individual":
        ind = rule.rule.dispatch_rule_individual
        room = f"{ind.room_prefix}_{frm}" if ind.room_prefix else frm
        if not ind.no_randomness:
            room += "_" + new_id("")
    elif kind == "dispatch_rule_callee":
        cal = rule.rule.dispatch_rule_callee
        room = f"{cal.room_prefix}_{to}" if cal.room_prefix else to
        if cal.randomize:
            room += "_" + new_id("")
    attrs[ATTR_RULE_ID] = rule.sip_dispatch_rule_id
    return Decision(
        "accept",
        trunk=trunk,
        rule=rule,
        room_name=room,
        identity=from_id,
        name=from_name,
        metadata=rule.metadata,
        attributes=attrs,
    )


def route(
    trunks: Sequence[SIPInboundTrunkInfo],
    rules: Sequence[SIPDispatchRuleInfo],
    call: InboundCall,
    *,
    pin: str = "",
    no_pin: bool = False,
) -> Decision:
    """ioservice_sip.go EvaluateSIPDispatchRules: trunk, rule, then the evaluation.

    Raises :class:`RoutingError` for conflicts (the bridge answers 503 Try again later)."""
    trunk = match_trunk(trunks, call)
    rule, why = match_rule(trunk, rules, call, pin=pin, no_pin=no_pin)
    if rule is None:
        return Decision("drop", trunk=trunk, reason=why)
    return evaluate(trunk, rule, call, pin=pin)
