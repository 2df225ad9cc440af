"""LiveKit's own rules on what may coexist, checked offline before any write.

LiveKit refuses a write that makes two inbound trunks answer the same number for the same
callers, or two dispatch rules match the same call: ``DispatchRuleValidator`` in
livekit/protocol ``sip/sip.go`` keys a rule by PIN x trunk x inbound (caller) number x
(called) number, an empty list being a catch-all that clashes only with other catch-alls
(``dispatchRuleKey``); numbers are compared after ``NormalizeNumber`` (livekit/sip.go).
``validate`` checks the declared resources against each other; ``plan`` checks the state
the plan would produce (declared resources replacing their live versions, plus unmanaged,
kept and other owners' resources), so moving a number between two declared trunks in one
apply is no conflict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sipctl.fields import KINDS, SECTION_OF, describe
from sipctl.models import DispatchRule, InboundTrunk, Resource
from sipctl.numbers import normalize_number


def conflict_keys(model: Resource | None) -> set[tuple[str, ...]]:
    """What LiveKit lets only one resource hold: an inbound trunk's (number, allowed
    caller) pairs, a dispatch rule's (pin, trunk, caller, called number) combinations."""
    if isinstance(model, InboundTrunk):
        keys: set[tuple[str, ...]] = set()
        for num in [normalize_number(n) for n in model.numbers] or [""]:
            if not model.allowed_numbers:
                keys.add((num, ""))
            for allowed in model.allowed_numbers:
                keys.add((num, normalize_number(allowed)))
        return keys
    if isinstance(model, DispatchRule):
        r = model.rule
        pin = (r.direct or r.individual or r.callee).pin  # type: ignore[union-attr]
        return {
            (pin, trunk, normalize_number(caller), normalize_number(called))
            for trunk in model.trunks or [""]
            for caller in model.inbound_numbers or [""]
            for called in model.numbers or [""]
        }
    return set()


@dataclass(frozen=True)
class Holder:
    """A resource in the state checked: declared (placed by file:line) or live (ID)."""

    kind: str
    name: str
    model: Resource
    # where a declared resource stands: its "file:line" is looked up only for a message
    # (positions are computed lazily; asking for every resource's made plans slow at scale)
    declared_at: Mapping[tuple[str, str], str] | None = None
    id: str = ""

    def label(self) -> str:
        if self.declared_at is not None:
            where = self.declared_at.get((SECTION_OF[self.kind], self.name), "")
            if where:
                return f"{describe(self.kind, self.name)} ({where})"
        return describe(self.kind, self.name, self.id)


@dataclass(frozen=True)
class Conflict:
    section: str
    name: str
    message: str


def conflicts(holders: Iterable[Holder]) -> list[tuple[Holder, Holder, str]]:
    """Pairs that LiveKit would refuse together, with what they share (one per pair)."""
    out = []
    seen: dict[tuple[str, tuple[str, ...]], Holder] = {}
    for h in holders:
        for key in sorted(conflict_keys(h.model)):
            first = seen.setdefault((h.kind, key), h)
            if first is not h and (first.kind, first.name, first.id) != (h.kind, h.name, h.id):
                out.append((first, h, _shared(h.kind, key)))
                break
    return out


def _shared(kind: str, key: tuple[str, ...]) -> str:
    if kind == "inbound_trunk":
        number, allowed = key
        callers = f"callers {allowed}" if allowed else "any caller"
        return f"number {number or '(any)'} for {callers}"
    pin, trunk, caller, called = key
    parts = [
        f"trunk {trunk}" if trunk else "any trunk",
        f"caller {caller}" if caller else "any caller",
        f"number {called}" if called else "any number",
    ]
    return ", ".join(parts) + (f", PIN {pin}" if pin else "")


def message(a: Holder, b: Holder, shared: str) -> str:
    what = "answer" if a.kind == "inbound_trunk" else "match"
    return (
        f"{a.label()} and {b.label()} would both {what} {shared}: LiveKit refuses that "
        "(give them distinguishing numbers, allowed_numbers, trunks or PINs)"
    )


# The kinds LiveKit checks against each other: outbound trunks hold nothing it refuses to
# share (a plan of 10,000 of them made a holder each for nothing).
CHECKED = tuple(k for k in KINDS if k in ("inbound_trunk", "dispatch_rule"))


def declared_holders(config: Any) -> list[Holder]:
    holders = []
    declared_at = getattr(config, "declared_at", {})
    for kind in CHECKED:
        section = SECTION_OF[kind]
        for name, model in getattr(config, section).items():
            holders.append(Holder(kind, name, model, declared_at))
    return holders


def declared_conflicts(config: Any) -> list[Conflict]:
    """``validate``: the declared resources against each other."""
    return [
        Conflict(SECTION_OF[b.kind], b.name, message(a, b, s))
        for a, b, s in conflicts(declared_holders(config))
    ]


def planned_problems(config: Any, state: Any, changes: Iterable[Any]) -> list[str]:
    """``plan``: conflicts in the state the plan would produce, and deletes of inbound
    trunks that a dispatch rule left in place still names."""
    changes = list(changes)
    replaced = {c.live.id for c in changes if c.live is not None}
    deleted = [c for c in changes if c.action == "delete"]
    holders = declared_holders(config)
    declared = {(h.kind, h.name) for h in holders}
    for kind in CHECKED:
        for res in state.all[kind]:
            if res.id in replaced or res.model is None:
                continue
            if (
                res.marker is not None
                and (kind, res.name) in declared
                and res in (state.managed[kind].get(res.name),)
            ):
                continue
            holders.append(Holder(kind, res.name, res.model, id=res.id))
    out = [message(a, b, s) for a, b, s in conflicts(holders)]
    for c in deleted:
        if c.kind != "inbound_trunk":
            continue
        for h in holders:
            if h.kind == "dispatch_rule" and c.name in getattr(h.model, "trunks", []):
                out.append(
                    f"deleting {c.label()} would leave {h.label()} naming it: LiveKit "
                    "refuses that (change or delete the rule first)"
                )
    return out
