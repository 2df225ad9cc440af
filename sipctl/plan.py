"""Diff the config (desired) against LiveKit (live) into a :class:`Plan` of changes.

Identity is the name: a managed live resource whose name is a YAML key is compared field
by field (:mod:`sipctl.diff`); a declared name with no live resource is a create; a
managed live resource no longer declared is *orphaned* (kept) or, when deletes are
allowed, a delete; a declared name whose only live resource lacks the marker is an
*adopt* (sipctl writes its marker, plus any field changes). Live resources without the
marker that are not declared are *unmanaged*: listed, never touched.

Before comparing, the checks that make a plan impossible run (unreadable answers,
duplicates, reserved metadata, unknown targets, rules naming missing trunks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

from sipctl.canonical import canonical
from sipctl.config.model import Config
from sipctl.diff import create_fields, diff_resource, prefetch_fingerprints
from sipctl.errors import LiveKitError, SipctlError
from sipctl.fields import KINDS, SECTION_OF, Kind, describe
from sipctl.live import LiveResource, LiveState
from sipctl.models import DispatchRule, Resource, Settings
from sipctl.ownership import MARKER_KEY, MARKER_LINE
from sipctl.plan_result import Change, Plan, Safety
from sipctl.server_rules import planned_problems

Scope = Callable[[str, str], bool]


class UnsafePlan(SipctlError):
    """The plan changes more managed resources than the thresholds allow."""


def declared(config: Config, kind: str) -> Mapping[str, Resource]:
    section: Mapping[str, Resource] = getattr(config, SECTION_OF[kind])
    return section


def _check_readable(state: LiveState) -> None:
    errors = [r.error for k in KINDS for r in state.all[k] if r.error]
    if errors:
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise LiveKitError("; ".join(errors[:5]) + more)


def in_scope(targets: Sequence[str]) -> Scope:
    wanted = set(targets)

    def check(kind: str, name: str) -> bool:
        return not wanted or name in wanted or f"{SECTION_OF[kind]}.{name}" in wanted

    return check


def make_plan(
    config: Config,
    state: LiveState,
    *,
    api_secret: str,
    allow_delete: bool = False,
    targets: Sequence[str] = (),
    take_ownership: Sequence[str] = (),
) -> Plan:
    """Compare ``config`` with ``state``; raise on duplicates or unreadable answers, and
    before anything is written when the plan may not be applied."""
    _check_readable(state)  # first: unreadable answers (no IDs, no names) look like duplicates
    if state.duplicates:
        raise LiveKitError("nothing can be applied: " + "; ".join(str(d) for d in state.duplicates))
    _check_reserved(config)
    settings: Settings = config.settings
    owner = settings.owner
    allow_delete = allow_delete or settings.prune
    scope = in_scope(targets)
    _check_targets(config, state, targets)
    _check_take_ownership(config, state, take_ownership)

    plan = Plan([], [], [], _no_safety(), allow_delete, tuple(targets), owner=owner)
    plan.take_ownership = tuple(take_ownership)
    plan.renames = _renames(config, state)
    # against a server that hides passwords, one scrypt derivation per trunk: all at once,
    # on a few threads, before the diff asks for them one by one
    prefetch_fingerprints(_counterparts(config, state, plan.renames))
    for kind in KINDS:
        _plan_kind(plan, kind, declared(config, kind), state, api_secret, scope)
    changes = plan.changes
    for c in changes:
        c.owner = owner
    _check_rule_trunks(config, state, changes, scope)
    plan.warnings.extend(likely_renames(plan))
    _check_deletes_have_owner(plan)
    problems = planned_problems(config, state, changes)
    if problems:
        raise SipctlError(
            "LiveKit would refuse this plan; nothing was changed:\n  " + "\n  ".join(problems)
        )
    plan.safety = Safety(
        managed=state.count_managed(),
        updates=sum(1 for c in changes if c.action == "update"),
        deletes=sum(1 for c in changes if c.action == "delete"),
        min_resources=settings.safety_min_resources,
        max_update_percent=settings.max_update_percent,
        max_delete_percent=settings.max_delete_percent,
    )
    order = {k: i for i, k in enumerate(KINDS)}
    changes.sort(key=lambda c: (order[c.kind], c.name))
    for group in (plan.unmanaged, plan.orphaned, plan.other_owners, plan.unowned):
        group.sort(key=lambda r: (order[r.kind], r.name, r.id))
    return plan


def _no_safety() -> Safety:
    return Safety(0, 0, 0, 0, 100.0, 100.0)


def _plan_kind(
    plan: Plan,
    kind: Kind,
    wanted: Mapping[str, Resource],
    state: LiveState,
    api_secret: str,
    scope: Scope,
) -> None:
    """The changes and listings of one kind."""
    claimed: set[str] = set()
    renamed = {old: new for old, new in plan.renames[kind].items()}
    for name, model in wanted.items():
        if not scope(kind, name):
            continue
        live = state.managed[kind].get(name)
        old = next((o for o, n in renamed.items() if n == name), None)
        if live is None and old is not None:
            # renamed in place: the live resource keeps its ID (voice agents dial by it)
            was = state.managed[kind][old]
            change = diff_resource(kind, name, model, was, api_secret, adopt=True)
            assert change is not None
            change.action, change.renamed_from = "rename", old
            plan.changes.append(change)
            continue
        if live is not None:
            change = diff_resource(kind, name, model, live, api_secret, adopt=False)
            if change is not None:
                plan.changes.append(change)
        elif (claim := _claimable(state, kind, name, plan.take_ownership)) is not None:
            change = diff_resource(kind, name, model, claim, api_secret, adopt=True)
            assert change is not None and claim.marker is not None
            previous = claim.marker.owner
            change.note = "; ".join(
                n
                for n in (
                    f"claims it from owner {previous!r} (--take-ownership)"
                    if previous
                    else "claims it: sipctl managed it without an owner",
                    change.note,
                )
                if n
            )
            plan.changes.append(change)
            claimed.add(name)
        else:
            strays = state.unmanaged[kind].get(name, [])
            if len(strays) > 1:
                raise LiveKitError(
                    f"{len(strays)} live {describe(kind, name)}s exist without sipctl's marker "
                    f"({', '.join(r.id for r in strays)}); sipctl cannot tell which one to "
                    "adopt: delete or rename all but one"
                )
            if strays:
                adopt = diff_resource(kind, name, model, strays[0], api_secret, adopt=True)
                assert adopt is not None
                plan.changes.append(adopt)
                continue
            plan.changes.append(
                Change("create", kind, name, None, "create", create_fields(kind, model), model)
            )
            continue
        # A hand-made resource with the name of a managed one: listed, warned about.
        for stray in state.unmanaged[kind].get(name, []):
            plan.unmanaged.append(stray)
            plan.warnings.append(
                f"{describe(kind, name, stray.id)} has the name of a resource this config "
                "manages but no sipctl marker: it is not managed (rename or delete it)"
            )
    for name, live in state.managed[kind].items():
        if name in wanted or name in renamed or not scope(kind, name):
            continue
        if plan.allow_delete:
            plan.changes.append(Change("delete", kind, name, live.id, "delete", live=live))
        else:
            plan.orphaned.append(live)
    for name, group in state.unmanaged[kind].items():
        if name not in wanted and scope(kind, name):
            plan.unmanaged.extend(group)
    for name, group in state.unowned[kind].items():
        if name not in claimed and scope(kind, name):
            plan.unowned.extend(group)
    for name, group in state.others[kind].items():
        if name not in claimed and scope(kind, name):
            plan.other_owners.extend(group)


def _renames(config: Config, state: LiveState) -> dict[str, dict[str, str]]:
    """kind -> old name -> new name, for declared ``renamed_from`` names that live on (an
    old name that no longer exists is ignored, so the key may stay in the YAML). Live
    dispatch rules then name a renamed inbound trunk by its new name."""
    out: dict[str, dict[str, str]] = {k: {} for k in KINDS}
    for kind in KINDS:
        wanted = declared(config, kind)
        for name, model in wanted.items():
            if name in state.managed[kind]:
                continue
            for old in model.renamed_from:
                if old in wanted:
                    raise SipctlError(
                        f"{describe(kind, name)} is renamed from {old!r}, which the config "
                        f"still declares ({_where(config, kind, old)}): remove one of them"
                    )
                if old in state.managed[kind] and old not in out[kind]:
                    out[kind][old] = name
                    break
    trunks = out["inbound_trunk"]
    if trunks:
        for res in state.all["dispatch_rule"]:
            if res.model is not None and any(t in trunks for t in res.model.trunks):  # type: ignore[union-attr]
                names = [trunks.get(t, t) for t in res.model.trunks]  # type: ignore[union-attr]
                res.model = res.model.model_copy(update={"trunks": names})
    return out


def _counterparts(
    config: Config, state: LiveState, renames: Mapping[str, Mapping[str, str]]
) -> Iterator[tuple[Resource, LiveResource]]:
    """Each declared trunk with the managed live trunk the diff compares it with: by name,
    or the old name it is renamed from."""
    for kind in ("outbound_trunk", "inbound_trunk"):
        managed = state.managed[kind]
        old_of = {new: old for old, new in renames[kind].items()}
        for name, model in declared(config, kind).items():
            live = managed.get(name) or managed.get(old_of.get(name, ""))
            if live is not None:
                yield model, live


def plan_renamed(state: LiveState, changes: Sequence[Change]) -> set[str]:
    """The new names of inbound trunks renamed by ``changes``."""
    return {c.name for c in changes if c.kind == "inbound_trunk" and c.action == "rename"}


def _where(config: Config, kind: str, name: str) -> str:
    return config.declared_at.get((SECTION_OF[kind], name), "in the config")


def likely_renames(plan: Plan) -> list[str]:
    """A create whose content equals an orphan's or a delete's: probably a rename."""
    gone = [c.live for c in plan.changes if c.action == "delete" and c.live] + plan.orphaned
    out = []
    for c in plan.changes:
        if c.action != "create" or c.desired is None:
            continue
        want = canonical(c.kind, c.desired)
        for res in gone:
            same = res.model is not None and canonical(res.kind, res.model) == want
            if res.kind == c.kind and same:
                out.append(
                    f"{describe(c.kind, c.name)} looks like a rename of {res.label()}: "
                    f"add renamed_from: [{res.name}] to keep its ID"
                )
                break
    return out


def _claimable(state: LiveState, kind: Kind, name: str, take: Sequence[str]) -> LiveResource | None:
    """The marked resource of another scope this config takes over, if any: one without
    an owner (when this config has one), or another owner's named in --take-ownership."""
    found = list(state.unowned[kind].get(name, []))
    if name in take:
        found += state.others[kind].get(name, [])
    if len(found) > 1:
        raise LiveKitError(
            f"{len(found)} live {describe(kind, name)}s could be claimed "
            f"({', '.join(r.id for r in found)}); sipctl cannot tell which one: delete or "
            "rename all but one"
        )
    return found[0] if found else None


def _check_take_ownership(config: Config, state: LiveState, take: Sequence[str]) -> None:
    others = {name for kind in KINDS for name in state.others[kind]}
    wanted = {name for kind in KINDS for name in declared(config, kind)}
    unknown = [t for t in take if t not in others or t not in wanted]
    if unknown:
        raise SipctlError(
            f"--take-ownership {', '.join(unknown)}: no resource of another owner with that "
            "name is declared in the config"
        )


def _check_deletes_have_owner(plan: Plan) -> None:
    """Deleting needs an owner: without one, another config's resources could look like
    this config's orphans."""
    deletes = [c for c in plan.changes if c.action == "delete"]
    if deletes and plan.owner is None:
        shown = ", ".join(c.label() for c in deletes[:5])
        more = f" and {len(deletes) - 5} more" if len(deletes) > 5 else ""
        raise SipctlError(
            f"refusing to delete {shown}{more}: deleting (settings.prune or --allow-delete) "
            "needs settings.owner (such as prod or staging), so that a config deletes only "
            "what it owns; set it, or delete without prune. Nothing was changed"
        )


def _check_reserved(config: Config) -> None:
    for kind in KINDS:
        for name, model in declared(config, kind).items():
            meta = model.metadata
            if isinstance(meta, dict) and MARKER_KEY in meta:
                raise SipctlError(
                    f"{describe(kind, name)}: metadata key {MARKER_KEY!r} is reserved for "
                    "sipctl's ownership marker; rename it"
                )
            if isinstance(meta, str) and any(
                line.startswith(MARKER_LINE) for line in meta.splitlines()
            ):
                raise SipctlError(
                    f"{describe(kind, name)}: a metadata line starting {MARKER_LINE.strip()!r} "
                    "is reserved for sipctl's ownership marker"
                )


def _check_targets(config: Config, state: LiveState, targets: Sequence[str]) -> None:
    if not targets:
        return  # (the name sets below take 5 ms at 10,000 trunks)
    known: set[str] = set()
    for kind in KINDS:
        names = set(declared(config, kind)) | set(state.managed[kind])
        names |= set(state.unmanaged[kind]) | set(state.unowned[kind]) | set(state.others[kind])
        known |= names | {f"{SECTION_OF[kind]}.{n}" for n in names}
    unknown = [t for t in targets if t not in known]
    if unknown:
        raise SipctlError(
            f"--target {', '.join(unknown)}: no resource of that name in the config or in LiveKit"
        )


def _check_rule_trunks(
    config: Config, state: LiveState, changes: Sequence[Change], scope: Scope
) -> None:
    """A rule can only name inbound trunks that exist or that this plan creates."""
    creating = {c.name for c in changes if c.kind == "inbound_trunk" and c.action == "create"}
    for c in changes:
        if c.kind != "dispatch_rule" or c.action == "delete":
            continue
        assert isinstance(c.desired, DispatchRule)
        for t in c.desired.trunks:
            exists = (
                t in state.managed["inbound_trunk"]
                or t in plan_renamed(state, changes)
                or len(state.unmanaged["inbound_trunk"].get(t, [])) == 1
            )
            if not exists and t not in creating:
                hint = f": add --target {t}" if not scope("inbound_trunk", t) else ""
                raise SipctlError(
                    f"dispatch rule {c.name!r} names inbound trunk {t!r}, which does not exist "
                    f"in LiveKit and is not created by this plan{hint}"
                )


def raise_if_unsafe(plan: Plan, force: bool) -> None:
    problems = plan.safety.problems()
    if problems and not force:
        raise UnsafePlan("; ".join(problems))
