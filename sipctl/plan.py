"""Diff the config (desired) against LiveKit (live) into a :class:`Plan` of changes.

Identity is the name: a managed live resource whose name is a YAML key is compared field
by field (deepdiff, only when a cheap equality says they differ); a declared name with no
live resource is a create; a managed live resource no longer declared is *orphaned* (kept)
or, when deletes are allowed, a delete; a declared name whose only live resource lacks the
marker is an *adopt* (sipctl writes its marker, plus any field changes). Live resources
without the marker that are not declared are *unmanaged*: listed, never touched.

Passwords are compared without being shown: with the value when the server returns it,
otherwise with the HMAC fingerprint sipctl keeps in the marker (keyed with the API secret).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sipctl.errors import LiveKitError, SipctlError
from sipctl.livekit.resource import KINDS, LiveResource, LiveState, describe
from sipctl.models import (
    DispatchRule,
    InboundTrunk,
    Kind,
    Media,
    OutboundTrunk,
    Resource,
    Settings,
)
from sipctl.secrets import MASK

if TYPE_CHECKING:
    from sipctl.config.loader import Config

Action = Literal["create", "update", "delete", "adopt"]
Method = Literal["create", "update", "replace", "delete"]

SECTION_OF: dict[str, str] = {
    "outbound_trunk": "outbound_trunks",
    "inbound_trunk": "inbound_trunks",
    "dispatch_rule": "dispatch_rules",
}
PASSWORD = "auth.password"

# Fields LiveKit's ``update`` (as the SDK's update_*_fields helpers send it) can change;
# any other changed field needs ``replace``. Lists additionally need a non-empty new value
# (an empty ListUpdate is refused, and the SDK drops ``clear``).
_UPDATABLE: dict[str, frozenset[str]] = {
    "outbound_trunk": frozenset(
        {"address", "transport", "numbers", "auth.username", PASSWORD, "metadata", "media"}
    ),
    "inbound_trunk": frozenset(
        {
            "numbers",
            "allowed_addresses",
            "allowed_numbers",
            "auth.username",
            PASSWORD,
            "metadata",
            "media",
        }
    ),
    "dispatch_rule": frozenset({"trunks", "rule", "metadata", "attributes"}),
}
_LISTS = frozenset({"numbers", "allowed_addresses", "allowed_numbers", "trunks"})

# Canonical values that a create does not bother to show.
_DEFAULTS: dict[str, Any] = {
    "transport": "auto",
    "include_headers": "none",
    "media.encryption": "disable",
    "media.only_listed_codecs": False,
}


# --- the canonical, comparable form of a model ----------------------------------------


def _media(m: Media | None) -> dict[str, Any]:
    """Media flattened with defaults, so none, empty and all-default compare equal."""
    if m is None:
        return {
            "media.codecs": [],
            "media.only_listed_codecs": False,
            "media.encryption": "disable",
            "media.media_timeout": None,
        }
    return {
        "media.codecs": [{"name": c.name, "rate": c.rate} for c in m.codecs],
        "media.only_listed_codecs": m.only_listed_codecs,
        "media.encryption": m.encryption.value if m.encryption is not None else "disable",
        "media.media_timeout": m.media_timeout,
    }


def _metadata(value: dict[str, Any] | str) -> dict[str, Any] | str:
    return dict(value) if isinstance(value, dict) else value


def canonical(kind: str, m: Resource) -> dict[str, Any]:
    """The JSON-able form two models are compared in (no password: see :func:`_password`).

    Lists whose order LiveKit ignores are sorted, so reordering YAML is not a change.
    """
    if isinstance(m, OutboundTrunk):
        auth = m.auth
        return {
            "address": m.address,
            "transport": m.transport.value,
            "numbers": sorted(m.numbers),
            "auth.username": auth.username if auth else "",
            "destination_country": m.destination_country,
            "from_host": m.from_host,
            "headers": dict(m.headers),
            "headers_to_attributes": dict(m.headers_to_attributes),
            "attributes_to_headers": dict(m.attributes_to_headers),
            "include_headers": m.include_headers.value,
            **_media(m.media),
            "metadata": _metadata(m.metadata),
        }
    if isinstance(m, InboundTrunk):
        iauth = m.auth
        return {
            "numbers": sorted(m.numbers),
            "allowed_addresses": sorted(m.allowed_addresses),
            "allowed_numbers": sorted(m.allowed_numbers),
            "auth.username": iauth.username if iauth else "",
            "auth.realm": iauth.realm if iauth else "",
            "headers": dict(m.headers),
            "headers_to_attributes": dict(m.headers_to_attributes),
            "attributes_to_headers": dict(m.attributes_to_headers),
            "include_headers": m.include_headers.value,
            "ringing_timeout": m.ringing_timeout,
            "max_call_duration": m.max_call_duration,
            "krisp_enabled": m.krisp_enabled,
            **_media(m.media),
            "metadata": _metadata(m.metadata),
        }
    assert isinstance(m, DispatchRule)
    rule = m.rule
    which = "direct" if rule.direct else "individual" if rule.individual else "callee"
    body = getattr(rule, which)
    return {
        "rule": {which: body.model_dump(mode="json")},
        "trunks": sorted(m.trunks),
        "hide_phone_number": m.hide_phone_number,
        "inbound_numbers": sorted(m.inbound_numbers),
        "numbers": sorted(m.numbers),
        "attributes": dict(m.attributes),
        "room_preset": m.room_preset,
        "krisp_enabled": m.krisp_enabled,
        **_media(m.media),
        "metadata": _metadata(m.metadata),
    }


def desired_password(m: Resource) -> str:
    auth = getattr(m, "auth", None)
    if auth is None or auth.password is None:
        return ""
    value: str = auth.password.reveal()
    return value


@functools.lru_cache(maxsize=4096)
def fingerprint(value: str, api_secret: str) -> str:
    """HMAC-SHA256(api_secret, value)[:16] — as :meth:`Secret.fingerprint` computes it.

    Cached: thousands of trunks usually share a handful of passwords."""
    return hmac.new(api_secret.encode(), value.encode(), hashlib.sha256).hexdigest()[:16]


# --- changes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    """One changed field; a sensitive one carries fingerprints, never values."""

    path: str
    old: Any
    new: Any
    sensitive: bool = False
    old_fingerprint: str | None = None
    new_fingerprint: str | None = None

    def show(self, value: Any) -> Any:
        return MASK if self.sensitive and value is not None else value


@dataclass
class Change:
    action: Action
    kind: Kind
    name: str
    id: str | None
    method: Method
    fields: list[FieldChange] = field(default_factory=list)
    desired: Resource | None = None
    live: LiveResource | None = None
    # write the password although it could not be compared (adopt on a masking server)
    push_password: bool = False
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}"

    def label(self) -> str:
        return describe(self.kind, self.name, self.id)

    def changed(self) -> set[str]:
        """Top-level field names this change touches (``media``, ``rule``, ``headers``...)."""
        return {_top(f.path) for f in self.fields}


def _top(path: str) -> str:
    if path.startswith(("auth.", "media.")):
        return path if path.startswith("auth.") else "media"
    return path.split(".", 1)[0]


@dataclass
class Safety:
    """octoDNS-style thresholds on the share of managed resources one apply may change."""

    managed: int
    updates: int
    deletes: int
    min_resources: int
    max_update_percent: float
    max_delete_percent: float

    def problems(self) -> list[str]:
        if self.managed < self.min_resources or self.managed == 0:
            return []
        out = []
        for what, n, limit, setting in (
            ("update", self.updates, self.max_update_percent, "max_update_percent"),
            ("delete", self.deletes, self.max_delete_percent, "max_delete_percent"),
        ):
            share = 100.0 * n / self.managed
            if share > limit:
                out.append(
                    f"refusing to {what} {n} of {self.managed} managed resources "
                    f"({share:.0f}% > settings.{setting} {limit:g}%); rerun with --force "
                    "if this is intended"
                )
        return out


@dataclass
class Plan:
    changes: list[Change]
    unmanaged: list[LiveResource]
    orphaned: list[LiveResource]
    safety: Safety
    allow_delete: bool
    targets: tuple[str, ...] = ()
    warnings: list[str] = field(default_factory=list)
    # scope -> key -> digest; filled by :func:`compute_digests` (saved plans, JSON output)
    digests: dict[str, dict[str, str]] | None = None

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)

    def __repr__(self) -> str:
        # Short on purpose (see LiveState.__repr__).
        return f"Plan({self.summary()!r})"

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def summary(self) -> str:
        if not self.changes:
            return "No changes. LiveKit matches the configuration."
        # An adopt updates the live resource in place (it writes the marker): it counts as
        # an update in the summary line, whose shape pipelines parse; the blocks above and
        # the JSON say "adopt".
        updates = self.count("update") + self.count("adopt")
        return (
            f"Plan: {self.count('create')} to create, {updates} to update, "
            f"{self.count('delete')} to delete."
        )

    def checksum(self) -> str | None:
        if self.digests is None:
            return None
        return checksum_of(self.digests)


class UnsafePlan(SipctlError):
    """The plan changes more managed resources than the thresholds allow."""


class StalePlan(SipctlError):
    """A saved plan no longer matches the config or LiveKit."""


# --- making the plan -------------------------------------------------------------------


def _desired(config: Config, kind: str) -> Mapping[str, Resource]:
    section: Mapping[str, Resource] = getattr(config, SECTION_OF[kind])
    return section


def _check_readable(state: LiveState) -> None:
    errors = [r.error for k in KINDS for r in state.all[k] if r.error]
    if errors:
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise LiveKitError("; ".join(errors[:5]) + more)


def _in_scope(targets: Sequence[str]) -> Any:
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
    scope = _in_scope(targets)
    _check_targets(config, state, targets)

    changes: list[Change] = []
    unmanaged: list[LiveResource] = []
    orphaned: list[LiveResource] = []
    for kind in KINDS:
        desired = _desired(config, kind)
        for name, model in desired.items():
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
                Change("create", kind, name, None, "create", _create_fields(kind, model), model)
            )
        for name, live in state.managed[kind].items():
            if name in desired or not scope(kind, name):
                continue
            if allow_delete:
                changes.append(Change("delete", kind, name, live.id, "delete", live=live))
            else:
                orphaned.append(live)
        for name, group in state.unmanaged[kind].items():
            if name in desired or not scope(kind, name):
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
    from sipctl.ownership import MARKER_KEY, MARKER_LINE

    for kind in KINDS:
        for name, model in _desired(config, kind).items():
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
        names = set(_desired(config, kind)) | set(state.managed[kind])
        names |= set(state.unmanaged[kind])
        known |= names | {f"{SECTION_OF[kind]}.{n}" for n in names}
    unknown = [t for t in targets if t not in known]
    if unknown:
        raise SipctlError(
            f"--target {', '.join(unknown)}: no resource of that name in the config or in LiveKit"
        )


def _check_rule_trunks(
    config: Config, state: LiveState, changes: Sequence[Change], scope: Any
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


def _create_fields(kind: str, model: Resource) -> list[FieldChange]:
    out = []
    for path, value in canonical(kind, model).items():
        if value in (None, "", [], {}, False) or _DEFAULTS.get(path, object()) == value:
            continue
        out.append(FieldChange(path, None, value))
    if desired_password(model):
        out.append(FieldChange(PASSWORD, None, MASK, sensitive=True))
    out.sort(key=lambda f: _field_order(kind, f.path))
    return out


_ORDER_CACHE: dict[str, dict[str, int]] = {}


def _field_order(kind: str, path: str) -> tuple[int, str]:
    order = _ORDER_CACHE.get(kind)
    if order is None:
        sample: dict[str, list[str]] = {
            "outbound_trunk": [
                "address",
                "transport",
                "numbers",
                "auth.username",
                PASSWORD,
                "destination_country",
                "from_host",
            ],
            "inbound_trunk": [
                "numbers",
                "allowed_addresses",
                "allowed_numbers",
                "auth.username",
                PASSWORD,
                "auth.realm",
            ],
            "dispatch_rule": ["rule", "trunks"],
        }
        order = {p: i for i, p in enumerate(sample[kind])}
        _ORDER_CACHE[kind] = order
    top = path.split(".", 1)[0] if not path.startswith("auth.") else path
    return (order.get(top, order.get(path, 100)), path)


def diff_resource(
    kind: Kind,
    name: str,
    model: Resource,
    live: LiveResource,
    api_secret: str,
    *,
    adopt: bool,
) -> Change | None:
    """The update (or adopt) that makes ``live`` match ``model``; None when it already does."""
    assert live.model is not None
    want = canonical(kind, model)
    have = canonical(kind, live.model)
    fields: list[FieldChange] = [] if want == have else _deep_fields(have, want)
    if isinstance(want.get("metadata"), str) != isinstance(have.get("metadata"), str):
        # text replaced by keys or keys by text: one change of the whole value
        fields = [f for f in fields if f.path.split(".")[0] != "metadata"]
        fields.append(FieldChange("metadata", have.get("metadata"), want.get("metadata")))
    pw_change, push = _password(model, live, api_secret, adopt)
    if pw_change is not None:
        fields.append(pw_change)
    if not fields and not adopt:
        return None
    fields.sort(key=lambda f: _field_order(kind, f.path))
    change = Change(
        "adopt" if adopt else "update",
        kind,
        name,
        live.id,
        "update",
        fields,
        model,
        live,
        push_password=push,
    )
    change.method = choose_method(change)
    if push:
        change.note = "the server does not return the password: adopt sets it"
    return change


def choose_method(change: Change) -> Method:
    """``update`` when LiveKit's update can express every changed field, else ``replace``."""
    assert change.desired is not None
    updatable = _UPDATABLE[change.kind]
    want = canonical(change.kind, change.desired)
    for top in change.changed():
        if top not in updatable:
            return "replace"
        if top in _LISTS and not want.get(top):
            return "replace"
    if change.kind == "dispatch_rule" and "attributes" in change.changed():
        assert isinstance(change.desired, DispatchRule)
        if any(v == "" for v in change.desired.attributes.values()):
            return "replace"  # update merges attributes; an empty value would delete the key
    return "update"


_MISSING = object()


def _deep_fields(have: dict[str, Any], want: dict[str, Any]) -> list[FieldChange]:
    """Field-level changes via deepdiff, collapsed to a readable path per field."""
    from deepdiff import DeepDiff

    # Only the top-level fields that differ go to deepdiff: same result, a fraction of
    # the work when a thousand resources change one field each.
    keys = [k for k in have.keys() | want.keys() if have.get(k, _MISSING) != want.get(k, _MISSING)]
    have = {k: have[k] for k in keys if k in have}
    want = {k: want[k] for k in keys if k in want}
    diff = DeepDiff(have, want, view="tree", threshold_to_diff_deeper=0)
    paths: dict[tuple[Any, ...], None] = {}
    for items in diff.values():
        for item in items:
            paths[_collapse(have, want, item.path(output_format="list"))] = None
    out = []
    for p in paths:
        old, new = _at(have, p), _at(want, p)
        out.append(FieldChange(".".join(str(x) for x in p), old, new))
    return out


def _at(data: Any, path: Sequence[Any]) -> Any:
    cur = data
    for step in path:
        if isinstance(cur, dict) and step in cur:
            cur = cur[step]
        else:
            return None
    return cur


def _collapse(have: Any, want: Any, path: Sequence[Any]) -> tuple[Any, ...]:
    """Descend while both sides are mappings: a changed header is ``headers.X-Foo``, a
    changed list is the whole list (``numbers``)."""
    out: list[Any] = []
    a, b = have, want
    for step in path:
        if not (isinstance(a, dict) and isinstance(b, dict)):
            break
        out.append(step)
        a = a.get(step, _MISSING)
        b = b.get(step, _MISSING)
    return tuple(out)


def _password(
    model: Resource, live: LiveResource, api_secret: str, adopt: bool
) -> tuple[FieldChange | None, bool]:
    """(the password change if any, whether to write the password regardless).

    A non-empty live password is the real one (a masking server answers an empty one):
    compare it. Otherwise use the fingerprint in the marker. Without either, nothing can
    be known: an adopt then writes the password (and records its fingerprint).
    """
    if live.kind == "dispatch_rule":
        return None, False
    want = desired_password(model)
    have = live.password
    marker_fp = live.marker.auth_fingerprint if live.marker is not None else None
    new_fp = fingerprint(want, api_secret) if want else None
    if have:
        if hmac.compare_digest(have.encode(), want.encode()):
            return None, False
        old_fp = fingerprint(have, api_secret)
    elif marker_fp is not None:
        if new_fp is not None and hmac.compare_digest(marker_fp, new_fp):
            return None, False
        old_fp = marker_fp
    elif not want:
        return None, False  # no password on either side
    else:
        username = live.model.auth.username if live.model and live.model.auth else ""  # type: ignore[union-attr]
        if adopt and username:
            # An empty password with a username: masked, most likely. Unknowable; set it.
            return None, True
        old_fp = None
    change = FieldChange(
        PASSWORD,
        MASK if old_fp else None,
        MASK if want else None,
        sensitive=True,
        old_fingerprint=old_fp,
        new_fingerprint=new_fp,
    )
    return change, False


# --- digests for saved plans -----------------------------------------------------------


def _mac(api_secret: str, data: bytes) -> str:
    return hmac.new(api_secret.encode(), data, hashlib.sha256).hexdigest()[:32]


def compute_digests(plan: Plan, config: Config, state: LiveState, api_secret: str) -> None:
    """Record what the plan was made from: one keyed digest per declared and live resource
    in scope, so a stale saved plan can name what changed. Keyed with the API secret, so a
    digest reveals nothing about a password."""
    scope = _in_scope(plan.targets)
    cfg: dict[str, str] = {}
    for kind in KINDS:
        for name, model in _desired(config, kind).items():
            if not scope(kind, name):
                continue
            data = {
                "c": canonical(kind, model),
                "p": fingerprint(desired_password(model), api_secret),
            }
            text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
            cfg[f"{kind}/{name}"] = _mac(api_secret, text.encode())
    s = config.settings
    relevant = [s.prune, s.max_update_percent, s.max_delete_percent, s.safety_min_resources]
    cfg["settings"] = _mac(api_secret, json.dumps(relevant).encode())
    live: dict[str, str] = {}
    for kind in KINDS:
        for res in state.all[kind]:
            if not scope(kind, res.name):
                continue
            raw = res.info.SerializeToString(deterministic=True) if res.info is not None else b""
            live[f"{kind}/{res.id}"] = _mac(api_secret, raw)
    plan.digests = {"config": dict(sorted(cfg.items())), "live": dict(sorted(live.items()))}


def checksum_of(digests: Mapping[str, Mapping[str, str]]) -> str:
    text = json.dumps(digests, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def stale_reasons(
    saved: Mapping[str, Mapping[str, str]],
    current: Mapping[str, Mapping[str, str]],
    names: Mapping[str, str] | None = None,
) -> list[str]:
    """What differs between the digests a plan was made from and the current ones.

    ``names`` maps live keys (``kind/ID``) to resource names for the message.
    """
    names = names or {}
    out: list[str] = []
    for scope, what in (("config", "the config"), ("live", "LiveKit")):
        old = saved.get(scope, {})
        new = current.get(scope, {})
        for key in sorted(set(old) | set(new)):
            if old.get(key) == new.get(key):
                continue
            label = _key_label(scope, key, names)
            if key not in old:
                out.append(f"{label} was added to {what}")
            elif key not in new:
                out.append(f"{label} was removed from {what}")
            else:
                out.append(f"{label} changed in {what}")
    return out


def _key_label(scope: str, key: str, names: Mapping[str, str]) -> str:
    if key == "settings":
        return "settings"
    kind, _, rest = key.partition("/")
    if scope == "config":
        return describe(kind, rest)
    return describe(kind, names.get(key, ""), rest) if key in names else f"{kind} {rest}"


def live_names(state: LiveState) -> dict[str, str]:
    return {f"{r.kind}/{r.id}": r.name for k in KINDS for r in state.all[k]}


def raise_if_unsafe(plan: Plan, force: bool) -> None:
    problems = plan.safety.problems()
    if problems and not force:
        raise UnsafePlan("; ".join(problems))


def changes_by_key(changes: Iterable[Change]) -> dict[str, Change]:
    return {c.key: c for c in changes}
