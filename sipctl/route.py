"""Predict where LiveKit routes an inbound call: which inbound trunk, which dispatch rule.

Pure logic (models in, a :class:`Decision` out), written from LiveKit's own rules and
independent of the sandbox (which imitates the same rules; tests compare the two):

- trunk selection: livekit/livekit ``pkg/service/ioservice_sip.go`` (``matchSIPTrunk``,
  ``SelectSIPInboundTrunk``), the list filter ``ListSIPInboundTrunkRequest.Filter`` in
  livekit/protocol ``livekit/sip.go``, and ``MatchTrunkDetailed`` in livekit/protocol
  ``sip/sip.go`` (``matchNumbers``, ``matchAddrMasks``);
- dispatch: ``SelectSIPDispatchRule`` (ioservice_sip.go), ``MatchDispatchRuleIter``,
  ``DispatchRulePriority``/``hasHigherPriority`` and the conflict check keyed by
  ``dispatchRuleKey`` (``DispatchRuleValidator.Validate``) in ``sip/sip.go``;
- the room and identity: ``EvaluateDispatchRule`` in ``sip/sip.go``;
- what the caller hears: livekit/sip ``pkg/sip/inbound.go`` (``processInvite``,
  ``handleInvite``, ``pinPrompt``) and ``pkg/service/psrpc.go`` (``GetAuthCredentials``,
  ``DispatchCall``), with the OSS server's answers (no trunk: accept; no rule: drop).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from sipctl.models import DispatchRule, InboundTrunk
from sipctl.numbers import match_addresses, match_numbers, normalize_number

RejectKind = Literal["inbound_trunk", "dispatch_rule"]

# inbound.go pinPrompt: more than 16 digits is a wrong PIN.
PIN_LIMIT = 16
RANDOM = "<random>"
CALLER = "<caller>"


@dataclass(frozen=True)
class Call:
    """An inbound call as LiveKit sees it: the To and From users and the source address."""

    to: str
    from_: str = ""  # the caller; "" when unknown (then no allow-list of numbers matches)
    source_ip: str = ""  # "" when unknown: LiveKit then skips allowed_addresses
    from_host: str = ""  # the From URI's host (allowed_addresses may name it)
    pin: str | None = None  # what the caller types at a PIN prompt; None: nothing


@dataclass(frozen=True)
class TrunkEntry:
    """An inbound trunk: ``key`` is how rules refer to it (YAML key or live ID)."""

    key: str
    name: str
    model: InboundTrunk


@dataclass(frozen=True)
class RuleEntry:
    """A dispatch rule; ``model.trunks`` holds trunk keys."""

    key: str
    name: str
    model: DispatchRule
    order: int = 0  # LiveKit lists by ID: the last tie-break


@dataclass(frozen=True)
class Rejection:
    kind: RejectKind
    name: str
    reason: str


class Outcome(StrEnum):
    room = "room"  # joins a room
    pin_prompt = "pin_prompt"  # answered, asks for a PIN (none given)
    wrong_pin = "wrong_pin"  # answered, the PIN matched no rule: hung up
    dropped = "dropped"  # no rule: LiveKit drops the INVITE without a final answer
    unavailable = "unavailable"  # conflicting trunks or rules: 503 Try again later


@dataclass
class Decision:
    call: Call
    outcome: Outcome
    trunk: TrunkEntry | None = None
    rule: RuleEntry | None = None
    room_name: str | None = None
    identity: str | None = None
    agents: list[str] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    auth_username: str | None = None  # the trunk challenges for digest credentials
    detail: str = ""  # what the caller experiences, one sentence

    @property
    def landed(self) -> bool:
        return self.outcome is Outcome.room


# --- dispatch rules -----------------------------------------------------------------------


def rule_pin(rule: DispatchRule) -> str:
    r = rule.rule
    part = r.direct or r.individual or r.callee
    assert part is not None
    return part.pin


def rule_room(rule: DispatchRule) -> str:
    """``GetPinAndRoom``: the room name (direct) or prefix (individual, callee)."""
    r = rule.rule
    if r.direct is not None:
        return r.direct.room_name
    part = r.individual or r.callee
    assert part is not None
    return part.room_prefix


def rule_kind(rule: DispatchRule) -> str:
    r = rule.rule
    return "direct" if r.direct else "individual" if r.individual else "callee"


def priority(rule: DispatchRule) -> int:
    """``DispatchRulePriority``: lower wins. PIN rules first, then by kind, with a penalty
    for each of inbound_numbers and numbers left empty."""
    base = {"direct": 0, "individual": 1, "callee": 2}[rule_kind(rule)]
    if not rule_pin(rule):
        base += 100
    if not rule.inbound_numbers:
        base += 1000
    if not rule.numbers:
        base += 1000
    return base


def rank(entry: RuleEntry) -> tuple[int, str, int]:
    # hasHigherPriority: priority, then room name/prefix; the first listed wins a full tie.
    return (priority(entry.model), rule_room(entry.model), entry.order)


def _precedence_words(rule: DispatchRule) -> str:
    kind = rule_kind(rule)
    article = "an" if kind[0] in "aeiou" else "a"
    parts = [f"{article} {kind} rule", "with a PIN" if rule_pin(rule) else "without a PIN"]
    narrowed = [f for f in ("numbers", "inbound_numbers") if getattr(rule, f)]
    parts.append("with " + " and ".join(narrowed) if narrowed else "for any number")
    return " ".join(parts)


def rule_conflicts(rules: Sequence[RuleEntry]) -> list[tuple[RuleEntry, RuleEntry]]:
    """Pairs LiveKit's ``DispatchRuleValidator`` refuses: same PIN, trunk, inbound number
    and number (normalised); an empty list stands for "any" and collides only with "any"."""
    seen: dict[tuple[str, str, str, str], RuleEntry] = {}
    out: list[tuple[RuleEntry, RuleEntry]] = []
    for entry in rules:
        m = entry.model
        found: RuleEntry | None = None
        for trunk in m.trunks or [""]:
            for inbound in m.inbound_numbers or [""]:
                for number in m.numbers or [""]:
                    key = (rule_pin(m), trunk, normalize_number(inbound), normalize_number(number))
                    other = seen.get(key)
                    if other is not None and found is None:
                        found = other  # may be the rule itself: LiveKit refuses that too
                    seen.setdefault(key, entry)
        if found is not None:
            out.append((found, entry))
    return out


def conflict_reason(a: RuleEntry, b: RuleEntry) -> str:
    if a is b:
        return (
            "lists one number twice (in two forms): LiveKit refuses the rule as a conflict "
            "with itself"
        )
    return (
        f"conflicts with {a.name} (same trunk, numbers, inbound_numbers and PIN): LiveKit "
        "refuses such rules, and fails every call it would evaluate them for"
    )


# --- the decision -----------------------------------------------------------------------


def _numbers_text(numbers: Sequence[str]) -> str:
    return ", ".join(numbers)


def _trunk_reasons(call: Call, t: InboundTrunk) -> str | None:
    """Why ``t`` does not take the call (None: it passes every filter)."""
    called = normalize_number(call.to)
    # The trunk list is filtered by the called number first (ListSIPInboundTrunkRequest).
    if t.numbers and not any(n == call.to or normalize_number(n) == called for n in t.numbers):
        return f"numbers ({_numbers_text(t.numbers)}) do not include the dialled {call.to}"
    if not match_numbers(call.from_, t.allowed_numbers):
        if not call.from_:
            return (
                f"allowed_numbers ({_numbers_text(t.allowed_numbers)}) admit no unknown "
                "caller (pass --from)"
            )
        return f"caller {call.from_} is not in allowed_numbers ({_numbers_text(t.allowed_numbers)})"
    if not match_addresses(call.source_ip, call.from_host, t.allowed_addresses):
        return (
            f"source address {call.source_ip} is not in allowed_addresses "
            f"({', '.join(t.allowed_addresses)})"
        )
    return None


def select_trunk(
    call: Call, trunks: Sequence[TrunkEntry]
) -> tuple[TrunkEntry | None, list[Rejection], list[TrunkEntry]]:
    """``MatchTrunkDetailed``: a trunk listing the number beats one without numbers.

    Returns the trunk, the rejections, and the trunks in conflict (LiveKit refuses the call
    when two trunks list the number, or no trunk lists it and two without numbers match)."""
    rejected: list[Rejection] = []
    specific: list[TrunkEntry] = []
    default: list[TrunkEntry] = []
    for entry in trunks:
        why = _trunk_reasons(call, entry.model)
        if why is not None:
            rejected.append(Rejection("inbound_trunk", entry.name, why))
        elif entry.model.numbers:
            specific.append(entry)
        else:
            default.append(entry)
    if len(specific) > 1:
        return None, rejected, specific
    if specific:
        for entry in default:
            rejected.append(
                Rejection(
                    "inbound_trunk",
                    entry.name,
                    f"has no numbers; trunk {specific[0].name} lists {call.to} and takes "
                    "precedence",
                )
            )
        return specific[0], rejected, []
    if len(default) > 1:
        return None, rejected, default
    return (default[0] if default else None), rejected, []


def _listed_for(trunk: TrunkEntry | None, rules: Sequence[RuleEntry]) -> list[RuleEntry]:
    # SelectSIPDispatchRule + ListSIPDispatchRuleRequest.Filter: with a trunk, the rules
    # naming it or no trunk at all; without one, every rule (validated, then skipped below).
    if trunk is None:
        return list(rules)
    return [r for r in rules if not r.model.trunks or trunk.key in r.model.trunks]


def _number_miss(field_name: str, number: str, listed: Sequence[str], who: str) -> str:
    text = (
        f"{field_name} ({_numbers_text(listed)}) do not contain the {who} {number or '(unknown)'}"
    )
    same = [n for n in listed if number and normalize_number(n) == normalize_number(number)]
    if same:
        text += (
            f": LiveKit compares a dispatch rule's {field_name} exactly, so {same[0]} "
            f"is not {number} (write it as the {who} number arrives)"
        )
    elif who == "caller" and not number:
        text = f"{field_name} ({_numbers_text(listed)}) need a known caller (pass --from)"
    return text


def _evaluate(
    call: Call,
    trunk: TrunkEntry | None,
    listed: Sequence[RuleEntry],
    pin: str,
    no_pin: bool,
) -> tuple[RuleEntry | None, dict[str, str]]:
    """One ``MatchDispatchRuleIter`` pass; returns the rule and why each other one lost."""
    why: dict[str, str] = {}
    specific: list[RuleEntry] = []
    default: list[RuleEntry] = []
    for entry in listed:
        m = entry.model
        if m.inbound_numbers and call.from_ not in m.inbound_numbers:
            why[entry.key] = _number_miss(
                "inbound_numbers", call.from_, m.inbound_numbers, "caller"
            )
            continue
        if m.numbers and call.to not in m.numbers:
            why[entry.key] = _number_miss("numbers", call.to, m.numbers, "dialled")
            continue
        rpin = rule_pin(m)
        if no_pin and rpin:
            why[entry.key] = "needs a PIN, and the caller entered none"
            continue
        if pin and not rpin:
            why[entry.key] = "has no PIN, and LiveKit skips open rules once a PIN is entered"
            continue
        if pin and pin != rpin:
            why[entry.key] = "its PIN is not the one entered"
            continue
        if not m.trunks:
            default.append(entry)
        elif trunk is None:
            why[entry.key] = f"applies only to trunks {', '.join(m.trunks)}, and no trunk matched"
        else:
            specific.append(entry)
    pool = specific or default
    if not pool:
        return None, why
    best = min(pool, key=rank)
    for entry in specific + default:
        if entry is best:
            continue
        if entry in default and specific:
            why[entry.key] = (
                f"applies to any trunk; {best.name} names trunk {trunk.name if trunk else ''} "
                "and trunk-specific rules come first"
            )
        else:
            why[entry.key] = (
                f"{best.name} takes precedence ({_precedence_words(best.model)} comes before "
                f"{_precedence_words(entry.model)})"
            )
    return best, why


def room_name(rule: DispatchRule, call: Call) -> str:
    """The room LiveKit names (``EvaluateDispatchRule``); ``<random>`` and, with no known
    caller, ``<caller>`` stand for what only the call decides."""
    r = rule.rule
    if r.direct is not None:
        return r.direct.room_name
    if r.individual is not None:
        caller = masked_caller(call.from_) if rule.hide_phone_number else call.from_
        room = caller or CALLER
        if r.individual.room_prefix:
            room = f"{r.individual.room_prefix}_{room}"
        return room if r.individual.no_randomness else f"{room}_{RANDOM}"
    assert r.callee is not None
    room = f"{r.callee.room_prefix}_{call.to}" if r.callee.room_prefix else call.to
    return f"{room}_{RANDOM}" if r.callee.randomize else room


def masked_caller(caller: str) -> str:
    """hide_phone_number keeps the last 4 characters (1 when the number is that short)."""
    if not caller:
        return "<caller's last 4 digits>"
    n = 4 if len(caller) > 4 else 1
    return caller[-n:]


def participant_identity(rule: DispatchRule, caller: str) -> str:
    """``sip_<caller>``, or with hide_phone_number ``sip_`` + 16 hex of SHA-256(caller)."""
    return hidden_identity(caller) if rule.hide_phone_number else "sip_" + caller


def hidden_identity(caller: str) -> str:
    """The identity LiveKit gives a caller under hide_phone_number."""
    return "sip_" + hashlib.sha256(caller.encode()).hexdigest()[:16]


def rule_agents(rule: DispatchRule) -> list[str]:
    """Agent names the rule's room_config dispatches into the room."""
    return [a.agent_name for a in rule.room_config.agents] if rule.room_config else []


def route(call: Call, trunks: Sequence[TrunkEntry], rules: Sequence[RuleEntry]) -> Decision:
    """What LiveKit does with ``call`` given these trunks and rules."""
    trunk, rejected, clash = select_trunk(call, trunks)
    if clash:
        names = ", ".join(t.name for t in clash)
        for t in clash:
            others = ", ".join(o.name for o in clash if o is not t)
            rejected.append(
                Rejection(
                    "inbound_trunk",
                    t.name,
                    f"matches together with {others}: LiveKit refuses the call "
                    "(Multiple SIP Trunks matched)",
                )
            )
        return Decision(
            call,
            Outcome.unavailable,
            rejected=rejected,
            detail=f"trunks {names} all match: LiveKit answers 503 Try again later",
        )
    decision = Decision(call, Outcome.dropped, trunk=trunk, rejected=rejected)
    if trunk is not None and trunk.model.auth is not None and trunk.model.auth.username:
        decision.auth_username = trunk.model.auth.username
    listed = _listed_for(trunk, rules)
    # The listed rules are validated as they are read: a conflict fails the evaluation.
    conflicts = rule_conflicts(listed)
    if conflicts:
        for a, b in conflicts:
            rejected.append(Rejection("dispatch_rule", b.name, conflict_reason(a, b)))
        decision.outcome = Outcome.unavailable
        decision.detail = "conflicting dispatch rules: LiveKit answers 503 Try again later"
        return decision
    # First pass: no PIN yet (handleInvite). A PIN-protected winner makes LiveKit answer
    # and prompt; the caller's digits then select again among rules with that PIN.
    best, why = _evaluate(call, trunk, listed, "", False)
    if best is not None and rule_pin(best.model):
        if call.pin is None:
            why = {k: v for k, v in why.items()}
            why[best.key] = (
                "needs a PIN: LiveKit answers and asks for it (pass --pin to follow the call)"
            )
            decision.outcome = Outcome.pin_prompt
            decision.detail = f"LiveKit answers and asks for a PIN (dispatch rule {best.name})"
            best = None
        elif len(call.pin) > PIN_LIMIT:
            why[best.key] = f"asks for a PIN; more than {PIN_LIMIT} digits is a wrong PIN"
            decision.outcome = Outcome.wrong_pin
            best = None
        else:
            first = best
            best, why = _evaluate(call, trunk, listed, call.pin, call.pin == "")
            if best is None:
                why[first.key] = why.get(first.key, "its PIN is not the one entered")
                decision.outcome = Outcome.wrong_pin
        if decision.outcome is Outcome.wrong_pin:
            decision.detail = "LiveKit asks for a PIN, says it is wrong and hangs up"
    for entry in rules:
        if entry is best:
            continue
        reason = why.get(entry.key)
        if reason is None:  # not listed for this trunk
            reason = (
                f"applies to trunks {', '.join(entry.model.trunks)}, not {trunk.name}"
                if trunk is not None
                else "not considered"
            )
        rejected.append(Rejection("dispatch_rule", entry.name, reason))
    if best is None:
        if decision.outcome is Outcome.dropped:
            decision.detail = (
                "no dispatch rule matches: LiveKit drops the call without a final answer"
            )
        return decision
    decision.outcome = Outcome.room
    decision.rule = best
    decision.room_name = room_name(best.model, call)
    decision.identity = participant_identity(best.model, call.from_) if call.from_ else None
    decision.agents = rule_agents(best.model)
    decision.detail = f"LiveKit puts the caller in room {decision.room_name}"
    return decision


def view(decision: Decision) -> dict[str, Any]:
    """The decision as plain data for the renderers: the JSON keys, then text-only ones."""
    c = decision.call
    return {
        "inbound_trunk": decision.trunk.name if decision.trunk else None,
        "dispatch_rule": decision.rule.name if decision.rule else None,
        "room_name": decision.room_name,
        "agents": list(decision.agents),
        "rejected": [
            {"kind": r.kind, "name": r.name, "reason": r.reason} for r in decision.rejected
        ],
        # text only
        "call": {"to": c.to, "from": c.from_, "source_ip": c.source_ip, "pin": c.pin},
        "outcome": str(decision.outcome),
        "landed": decision.landed,
        "detail": decision.detail,
        "rule_kind": rule_kind(decision.rule.model) if decision.rule else None,
        "identity": decision.identity,
        "auth_username": decision.auth_username,
    }
