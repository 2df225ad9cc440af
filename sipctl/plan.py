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

from collections.abc import Callable, Mapping, Sequence

from sipctl.config.model import Config
from sipctl.diff import create_fields, diff_resource
from sipctl.errors import LiveKitError, SipctlError
from sipctl.fields import KINDS, SECTION_OF, describe
from sipctl.live import LiveResource, LiveState
from sipctl.models import DispatchRule, Resource, Settings
from sipctl.ownership import MARKER_KEY, MARKER_LINE
from sipctl.plan_result import Change, Plan, Safety

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
) -> Plan:
    """Compare ``config`` with ``state``; raise on duplicates or unreadable answers."""
    _check_readable(state)  # first: unreadable answers (no IDs, no names) look like duplicates
    if state.duplicates:
        raise LiveKitError("nothing can be applied: " + "; ".join(str(d) for d in state.duplicates))
    _check_reserved(config)
    settings: Settings = config.settings
    allow_delete = allow_delete or settings.prune
    scope = in_scope(targets)
    _check_targets(config, state, targets)

    changes: list[Change] = []
    unmanaged: list[LiveResource] = []
    orphaned: list[LiveResource] = []
    for kind in KINDS:
        wanted = declared(config, kind)
        for name, model in wanted.items():
            if not scope(kind, name):
                continue
            live = state.managed[kind].get(name)
            if live is not None:
                change = diff_resource(kind, name, model, live, api_secret, adopt=False)
                if change is not None:
                    changes.append(change)
                continue
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
                changes.append(adopt)
                continue
            changes.append(
                Change("create", kind, name, None, "create", create_fields(kind, model), model)
            )
        for name, live in state.managed[kind].items():
            if name in wanted or not scope(kind, name):
                continue
            if allow_delete:
                changes.append(Change("delete", kind, name, live.id, "delete", live=live))
            else:
                orphaned.append(live)
        for name, group in state.unmanaged[kind].items():
            if name in wanted or not scope(kind, name):
                continue
            unmanaged.extend(group)

    _check_rule_trunks(config, state, changes, scope)
    safety = Safety(
        managed=state.count_managed(),
        updates=sum(1 for c in changes if c.action == "update"),
        deletes=sum(1 for c in changes if c.action == "delete"),
        min_resources=settings.safety_min_resources,
        max_update_percent=settings.max_update_percent,
        max_delete_percent=settings.max_delete_percent,
    )
    order = {k: i for i, k in enumerate(KINDS)}
    changes.sort(key=lambda c: (order[c.kind], c.name))
    unmanaged.sort(key=lambda r: (order[r.kind], r.name, r.id))
    orphaned.sort(key=lambda r: (order[r.kind], r.name, r.id))
    return Plan(changes, unmanaged, orphaned, safety, allow_delete, tuple(targets))


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
    known: set[str] = set()
    for kind in KINDS:
        names = set(declared(config, kind)) | set(state.managed[kind])
        names |= set(state.unmanaged[kind])
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
