"""Warnings about inbound routing, among the config's warnings (the loader adds them).

- a declared inbound number that no dispatch rule can take;
- a dispatch rule that can never be chosen: another rule takes every call it matches
  (shadowed), or its numbers are not numbers its trunks receive;
- trunks or rules LiveKit refuses as conflicting (``ValidateTrunksIter`` and
  ``DispatchRuleValidator`` in livekit/protocol ``sip/sip.go``): apply would fail;
- an inbound test call (``arrive``) that ``sipctl route`` predicts elsewhere.

Each is judged with the rules of :mod:`sipctl.route` (LiveKit's), never by guesswork: a
warning is given only when it holds for every caller, source address and PIN (for a test
call: for its own caller, from any source address).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sipctl.errors import Problem
from sipctl.numbers import normalize_number
from sipctl.route import (
    Call,
    RuleEntry,
    TrunkEntry,
    conflict_reason,
    route,
    rule_conflicts,
    rule_pin,
)
from sipctl.route_sources import from_config


def _covers(outer: Sequence[str], inner: Sequence[str]) -> bool:
    """An empty filter matches anything; else ``outer`` must hold every entry of ``inner``."""
    if not outer:
        return True
    return bool(inner) and set(inner) <= set(outer)


class _Index:
    """Rules by the trunk they name and trunks by number, so a 10,000-trunk config is
    checked in linear time."""

    def __init__(self, trunks: Sequence[TrunkEntry], rules: Sequence[RuleEntry]) -> None:
        self.trunks = {t.key: t for t in trunks}
        self.catch_all = [r for r in rules if not r.model.trunks]
        self.naming: dict[str, list[RuleEntry]] = {}
        for r in rules:
            for key in dict.fromkeys(r.model.trunks):
                self.naming.setdefault(key, []).append(r)
        self.by_number: dict[str, list[TrunkEntry]] = {}
        for t in trunks:
            for n in {normalize_number(n) for n in t.model.numbers}:
                self.by_number.setdefault(n, []).append(t)

    def listed(self, trunk: TrunkEntry) -> list[RuleEntry]:
        """The rules LiveKit considers for a call on ``trunk``."""
        return self.naming.get(trunk.key, []) + self.catch_all


def _certain_trunk(number: str, index: _Index) -> TrunkEntry | None:
    """The trunk every call to ``number`` selects: the one listing it with no allow-list
    (when two list it, LiveKit refuses one of them: reported as a conflict instead)."""
    listing = index.by_number.get(normalize_number(number), [])
    if len(listing) != 1:
        return None
    t = listing[0].model
    return listing[0] if not t.allowed_numbers and not t.allowed_addresses else None


def shadowed_by(rule: RuleEntry, index: _Index) -> list[tuple[str, TrunkEntry, RuleEntry]] | None:
    """For a rule for any trunk: per number, the trunk and trunk-specific rule that take
    every call it matches (LiveKit picks a rule naming the call's trunk before any rule
    for all trunks); None when some call can still reach it.

    Certain only for a rule with ``numbers`` (a call to another number may match no trunk),
    each received by one trunk without allow-lists, where a rule naming that trunk matches
    the same callers and has the same PIN (so a PIN prompt filters both alike)."""
    r = rule.model
    if r.trunks or not r.numbers:
        return None
    out: list[tuple[str, TrunkEntry, RuleEntry]] = []
    for number in r.numbers:
        trunk = _certain_trunk(number, index)
        if trunk is None:
            return None
        winner = next(
            (
                other
                for other in index.naming.get(trunk.key, [])
                if rule_pin(other.model) == rule_pin(r)
                and _covers(other.model.inbound_numbers, r.inbound_numbers)
                and (not other.model.numbers or number in other.model.numbers)
            ),
            None,
        )
        if winner is None:
            return None
        out.append((number, trunk, winner))
    return out


def unreachable_numbers(rule: RuleEntry, index: _Index) -> bool:
    """A rule naming trunks can only see calls those trunks take: when every trunk lists
    numbers and none of the rule's ``numbers`` is among them, the rule never matches."""
    m = rule.model
    if not m.trunks or not m.numbers:
        return False
    received: set[str] = set()
    for key in m.trunks:
        t = index.trunks.get(key)
        if t is None or not t.model.numbers:
            return False  # a trunk without numbers takes any dialled number
        received.update(normalize_number(n) for n in t.model.numbers)
    return not any(normalize_number(n) in received for n in m.numbers)


def arriving(number: str) -> str:
    """The called number of a call to a trunk's ``number``: as declared, except that a
    formatted one (``+1 (510) 555-0100``) arrives as LiveKit normalises it (the trunk
    matches it so: sip/sip.go MatchTrunkDetailed), since no To user has spaces."""
    norm = normalize_number(number)
    return number if norm == number or number.lstrip("+").isdigit() else norm


def unreached_numbers(trunk: TrunkEntry, index: _Index) -> list[int]:
    """Indexes of ``trunk``'s numbers that no rule takes (a call arriving as declared)."""
    listed = index.listed(trunk)
    if any(not r.model.numbers for r in listed):
        return []
    exact = {n for r in listed for n in r.model.numbers}
    return [i for i, n in enumerate(trunk.model.numbers) if arriving(n) not in exact]


def _trunk_conflicts(trunks: Sequence[TrunkEntry]) -> list[tuple[TrunkEntry, TrunkEntry, str]]:
    """``ValidateTrunksIter``: two trunks may not share a number (or both have none) unless
    their ``allowed_numbers`` keep them apart."""
    seen: dict[tuple[str, str], TrunkEntry] = {}
    out: list[tuple[TrunkEntry, TrunkEntry, str]] = []
    for t in trunks:
        clash: tuple[TrunkEntry, str] | None = None
        for number in {normalize_number(n) for n in t.model.numbers} or {""}:
            for caller in {normalize_number(n) for n in t.model.allowed_numbers} or {""}:
                other = seen.setdefault((number, caller), t)
                if other is not t and clash is None:
                    clash = (other, number or "(any number)")
        if clash is not None:
            out.append((clash[0], t, clash[1]))
    return out


def _where(config: Any, section: str, name: str) -> tuple[str, int]:
    place = config.declared_at.get((section, name), "")
    file, _, line = place.rpartition(":")
    return (file, int(line)) if line.isdigit() else (place or str(config.directory), 0)


def warnings(config: Any) -> list[Problem]:
    """The routing warnings for a loaded config (``sipctl.config.Config``)."""
    trunks, rules = from_config(config)
    index = _Index(trunks, rules)
    out: list[Problem] = []

    def warn(section: str, name: str, path: tuple[str | int, ...], message: str) -> None:
        file, line = _where(config, section, name)
        out.append(
            Problem(file, line, 1 if line else 0, (section, name, *path), message, "warning")
        )

    for t in trunks:
        for i in unreached_numbers(t, index):
            number = arriving(t.model.numbers[i])
            near = [
                e.name
                for e in index.listed(t)
                if any(normalize_number(n) == normalize_number(number) for n in e.model.numbers)
            ]
            hint = (
                f" (dispatch rule {near[0]} lists it in another form, and LiveKit compares a "
                "rule's numbers exactly)"
                if near
                else ""
            )
            warn(
                "inbound_trunks",
                t.key,
                ("numbers", i),
                f"a call to {number} reaches no dispatch rule: LiveKit would drop it{hint}",
            )
    for first, second, number in _trunk_conflicts(trunks):
        warn(
            "inbound_trunks",
            second.key,
            ("numbers",),
            f"shares {number} with inbound trunk {first.key} and neither allowed_numbers tells "
            "them apart: LiveKit refuses the second trunk",
        )
    conflicting: set[str] = set()
    for a, b in rule_conflicts(rules):
        warn("dispatch_rules", b.key, (), conflict_reason(a, b))
        conflicting.update((a.key, b.key))
    for entry in rules:
        if entry.key in conflicting:
            continue
        if unreachable_numbers(entry, index):
            warn(
                "dispatch_rules",
                entry.key,
                ("numbers",),
                f"can never match: none of its numbers is a number of its trunks "
                f"({', '.join(entry.model.trunks)})",
            )
            continue
        shadows = shadowed_by(entry, index)
        if shadows:
            how = "; ".join(
                f"a call to {number} arrives on trunk {t.key}, where dispatch rule {w.key} takes it"
                for number, t, w in shadows
            )
            warn(
                "dispatch_rules",
                entry.key,
                (),
                f"can never match: {how} (a rule naming the call's trunk comes before a "
                "rule for any trunk)",
            )
    for name, call in config.test_calls.items():
        if call.arrive is None or not isinstance(call.from_, str):
            continue
        d = route(Call(to=call.to, from_=call.from_), trunks, rules)
        got = (d.trunk.key if d.trunk else None, d.rule.key if d.rule else None)
        if got != (call.arrive.inbound_trunk, call.arrive.dispatch_rule):
            warn(
                "test_calls",
                name,
                ("arrive",),
                f"sipctl route predicts another outcome for a call to {call.to} from "
                f"{call.from_}: {d.detail}"
                + (f" (inbound trunk {got[0]}, dispatch rule {got[1]})" if d.landed else ""),
            )
    return sorted(out)
