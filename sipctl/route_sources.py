"""The candidates a route prediction weighs: the config's inbound trunks and dispatch
rules, and (``--live``) the live ones the config does not declare."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sipctl.live import LiveState
from sipctl.models import DispatchRule, InboundTrunk
from sipctl.route import RuleEntry, TrunkEntry


def from_config(config: Any) -> tuple[list[TrunkEntry], list[RuleEntry]]:
    """Trunks and rules of a loaded config (``sipctl.config.Config``), keyed by YAML key."""
    trunks = [TrunkEntry(k, k, m) for k, m in config.inbound_trunks.items()]
    rules = [RuleEntry(k, k, m, i) for i, (k, m) in enumerate(config.dispatch_rules.items())]
    return trunks, rules


def with_live(
    trunks: Sequence[TrunkEntry], rules: Sequence[RuleEntry], state: LiveState
) -> tuple[list[TrunkEntry], list[RuleEntry], list[str]]:
    """Add the live trunks and rules the config does not declare (``apply`` leaves them in
    place, so they route calls too); they are keyed by ID and named by their live name.

    Returns the trunks, the rules, and warnings for live resources that could not be read."""
    declared_trunks = {t.key for t in trunks}
    declared_rules = {r.key for r in rules}
    id_to_key: dict[str, str] = {}
    warnings: list[str] = []
    out_trunks = list(trunks)
    for res in state.all["inbound_trunk"]:
        if res.managed and res.name in declared_trunks:
            id_to_key[res.id] = res.name
            continue
        id_to_key[res.id] = res.id
        if not isinstance(res.model, InboundTrunk):
            warnings.append(f"skipped: {res.error or res.label()}")
            continue
        out_trunks.append(TrunkEntry(res.id, res.name or res.id, res.model))
    live_order = {
        res.name: res.id for res in state.all["dispatch_rule"] if res.managed and res.name
    }
    ordered: list[tuple[str, RuleEntry]] = [(live_order.get(r.key, "~" + r.key), r) for r in rules]
    for res in state.all["dispatch_rule"]:
        if res.managed and res.name in declared_rules:
            continue
        if not isinstance(res.model, DispatchRule):
            warnings.append(f"skipped: {res.error or res.label()}")
            continue
        ids = list(getattr(res.info, "trunk_ids", []) or [])
        model = res.model.model_copy(update={"trunks": [id_to_key.get(i, i) for i in ids]})
        ordered.append((res.id, RuleEntry(res.id, res.name or res.id, model)))
    ordered.sort(key=lambda pair: pair[0])
    out_rules = [RuleEntry(r.key, r.name, r.model, i) for i, (_, r) in enumerate(ordered)]
    return out_trunks, out_rules, warnings
