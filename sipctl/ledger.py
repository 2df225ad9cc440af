"""Where sipctl records which dispatch rules it manages: on inbound trunks, never in the rule.

LiveKit copies a dispatch rule's ``metadata`` into the metadata of every caller's
participant and its ``attributes`` into their attributes, so nothing of sipctl's may go
there. A rule's ownership is recorded instead in the marker of an inbound trunk of the same
owner (``"r"``: rule IDs), which callers never see: on each of the rule's trunks that this
owner manages, or, for a rule without such a trunk, on the owner's first inbound trunk by
name (the *anchor*). No extra LiveKit resource is created and no rule field the YAML does
not declare is touched. Limits: a config whose owner has no inbound trunk cannot record
its rules (they show as ``~ adopt`` on every plan, with a warning); a hand edit of a
trunk's metadata that drops ``"r"`` makes its rules unmanaged (the next apply adopts the
declared ones again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sipctl.apply_result import Outcome
from sipctl.live import LiveResource, LiveState
from sipctl.models import DispatchRule, InboundTrunk
from sipctl.ownership import Marker, render_metadata
from sipctl.plan_result import Change, Plan


@dataclass(frozen=True)
class LedgerWrite:
    trunk_id: str
    label: str
    metadata: str


def _after_apply(
    kind: str, state: LiveState, outcomes: Sequence[Outcome]
) -> tuple[dict[str, str], dict[str, Change]]:
    """name -> ID of this owner's resources of ``kind`` once the apply is done, and the
    applied change of each name (when there was one)."""
    ids = {name: r.id for name, r in state.managed[kind].items()}  # type: ignore[index]
    changed: dict[str, Change] = {}
    for o in outcomes:
        c = o.change
        if c.kind != kind or o.status != "applied":
            continue
        if c.action == "delete":
            ids.pop(c.name, None)
        elif o.id is not None:
            if c.renamed_from is not None:
                ids.pop(c.renamed_from, None)
            ids[c.name] = o.id
            changed[c.name] = c
    return ids, changed


def ledger_writes(
    plan: Plan, state: LiveState, outcomes: Sequence[Outcome], markers: Mapping[str, Marker]
) -> tuple[list[LedgerWrite], list[str]]:
    """The inbound trunk metadata to write so that each trunk lists the rules it records,
    and warnings. ``markers``: the marker each inbound trunk written by this apply got."""
    trunks, trunk_changes = _after_apply("inbound_trunk", state, outcomes)
    rule_ids, rule_changes = _after_apply("dispatch_rule", state, outcomes)
    if not rule_ids and not any(r.marker and r.marker.rules for r in _live_trunks(state)):
        return [], []
    anchor = min(trunks) if trunks else None
    wanted: dict[str, set[str]] = {name: set() for name in trunks}
    unrecorded: list[str] = []
    for name, rid in rule_ids.items():
        change = rule_changes.get(name)
        if change is not None and isinstance(change.desired, DispatchRule):
            refs = list(change.desired.trunks)
        else:
            live = state.managed["dispatch_rule"].get(name)
            refs = list(live.model.trunks) if live is not None and live.model else []  # type: ignore[union-attr]
        homes = [t for t in refs if t in trunks] or ([anchor] if anchor else [])
        if not homes:
            unrecorded.append(name)
        for t in homes:
            wanted[t].add(rid)
    writes: list[LedgerWrite] = []
    for name, tid in sorted(trunks.items()):
        change = trunk_changes.get(name)
        was = change.renamed_from if change is not None and change.renamed_from else name
        live = state.managed["inbound_trunk"].get(was)
        written = markers.get(name)
        current = written or (live.marker if live is not None else None) or Marker()
        rules = tuple(sorted(wanted[name]))
        if rules == current.rules and (written is None or written.rules == rules):
            continue
        model = change.desired if change is not None else live.model if live else None
        if not isinstance(model, InboundTrunk):
            continue
        marker = Marker(current.version, current.auth_fingerprint, plan.owner, rules)
        writes.append(
            LedgerWrite(
                tid, f"inbound trunk {name!r} ({tid})", render_metadata(model.metadata, marker)
            )
        )
    warnings = []
    if unrecorded:
        warnings.append(
            f"dispatch rules {', '.join(sorted(unrecorded))}: their ownership is recorded on "
            "an inbound trunk of the same owner, and this config has none (declare one)"
        )
    return writes, warnings


def _live_trunks(state: LiveState) -> list[LiveResource]:
    return list(state.managed["inbound_trunk"].values())
