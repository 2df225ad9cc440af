"""YAML for live resources (``sipctl import``): the config that would manage them as they are.

Each resource is written under its live name in the section of its kind, in the config's
own shape (defaults left out), so that ``sipctl plan`` afterwards shows ``~ adopt`` and no
field changes. Passwords are never written: they become ``${VARIABLE}`` references with a
suggested name (``acme-us`` -> ``${ACME_US_SIP_PASSWORD}``) that the user sets. The marker
is written only by ``apply``, so importing changes nothing in LiveKit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from sipctl.canonical import rule_which, value_at
from sipctl.durations import format_duration
from sipctl.errors import SipctlError
from sipctl.fields import FIELDS, KINDS, MODEL_OF, SECTION_OF, FieldSpec, Value, describe
from sipctl.live import LiveResource, LiveState
from sipctl.models import Encryption, Media, Rule


@dataclass
class Variable:
    name: str
    resource: str  # "outbound trunk 'acme-us'"


@dataclass
class ImportResult:
    data: dict[str, dict[str, Any]]
    variables: list[Variable] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def count(self) -> int:
        return sum(len(v) for v in self.data.values())

    def summary(self) -> str:
        parts = []
        for kind in KINDS:
            n = len(self.data.get(SECTION_OF[kind], {}))
            if n:
                title = kind.replace("_", " ")
                parts.append(f"{n} {title}{'s' if n != 1 else ''}")
        return ", ".join(parts) or "nothing"


def variable_name(name: str, suffix: str = "SIP_PASSWORD") -> str:
    """``acme-us`` -> ``ACME_US_SIP_PASSWORD``: a valid environment variable name."""
    base = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper() or "TRUNK"
    if base[0].isdigit():
        base = "T_" + base
    return f"{base}_{suffix}"


def _escape(value: Any) -> Any:
    """The loader reads ``${...}`` in any string: keep live text literal with ``$${``."""
    if isinstance(value, str):
        return value.replace("${", "$${")
    if isinstance(value, list):
        return [_escape(v) for v in value]
    if isinstance(value, dict):
        return {_escape(k): _escape(v) for k, v in value.items()}
    return value


def _media(m: Media | None) -> dict[str, Any] | None:
    if m is None or m.is_empty():
        return None
    out: dict[str, Any] = {}
    if m.codecs:
        out["codecs"] = [
            {"name": c.name, "rate": c.rate} if c.rate else {"name": c.name} for c in m.codecs
        ]
    if m.only_listed_codecs:
        out["only_listed_codecs"] = True
    if m.encryption is not None and m.encryption is not Encryption.disable:
        out["encryption"] = m.encryption.value
    if m.media_timeout is not None:
        out["media_timeout"] = format_duration(m.media_timeout)
    return out or None


class _Importer:
    def __init__(self, state: LiveState) -> None:
        self.state = state
        self.result = ImportResult({})
        self.used: set[str] = set()

    def secret(self, res: LiveResource) -> str:
        suffix = "SIP_PASSWORD"
        var = variable_name(res.name, suffix)
        if var in self.used:
            var = variable_name(res.name, "INBOUND_" + suffix)
        n = 2
        while var in self.used:
            var = variable_name(f"{res.name}_{n}", suffix)
            n += 1
        self.used.add(var)
        self.result.variables.append(Variable(var, describe(res.kind, res.name, res.id)))
        return "${" + var + "}"

    def auth(self, res: LiveResource, username: str, realm: str = "") -> dict[str, Any] | None:
        # A masking server answers an empty password: a username means there is one, and
        # so does an inbound trunk nothing else secures (LiveResource.hides_password).
        has_password = (
            bool(res.password)
            or bool(res.marker is not None and res.marker.auth_fingerprint)
            or res.hides_password()
        )
        if not (username or has_password or realm):
            return None
        out: dict[str, Any] = {"username": _escape(username)}
        if has_password or username:
            out["password"] = self.secret(res)
        if realm:
            out["realm"] = _escape(realm)
        return out

    def trunks(self, res: LiveResource, names: list[str]) -> list[str]:
        for t in names:
            if t not in self.state.managed["inbound_trunk"] and not any(
                t == name for name in self.state.unmanaged["inbound_trunk"]
            ):
                self.result.warnings.append(
                    f"{res.label()} names inbound trunk {t}, which LiveKit does not "
                    "have: fix its trunks before applying"
                )
        return _escape(list(names))  # type: ignore[no-any-return]

    def value(self, res: LiveResource, spec: FieldSpec, v: Any, required: bool) -> Any:
        """One row's YAML value; None leaves it out (empty or the default)."""
        kind = spec.value
        if kind is Value.METADATA:
            # text stays text (the marker goes on a last line); keys stay keys
            return _escape(v) if isinstance(v, str) else _escape(dict(v)) if v else None
        if kind is Value.MEDIA:
            return _media(v)
        if kind is Value.RULE:
            return _rule(v)
        if kind is Value.ROOM_CONFIG:
            return _escape(v.model_dump(mode="json", exclude_defaults=True)) if v else None
        if kind is Value.TRUNKS:
            return self.trunks(res, v) if v else None
        if not v and not required:
            return None
        if kind is Value.ENUM:
            return v.value if v.value != spec.default else None
        if kind is Value.DURATION:
            return format_duration(v)
        if kind is Value.BOOL:
            return True
        if kind is Value.LIST:
            return _escape(list(v))
        if kind is Value.MAP:
            return _escape(dict(v))
        return _escape(v)

    def add(self, res: LiveResource) -> None:
        m = res.model
        if m is None:
            self.result.warnings.append(f"skipped {res.label()}: {res.error}")
            return
        fields = MODEL_OF[res.kind].model_fields
        out: dict[str, Any] = {}
        for spec in FIELDS[res.kind]:
            if not spec.imported:
                continue
            if spec.group:
                if spec.group not in out:  # the nested model (auth) as one mapping
                    auth = getattr(m, spec.group, None)
                    value = self.auth(
                        res,
                        getattr(auth, "username", "") if auth else "",
                        getattr(auth, "realm", "") if auth else "",
                    )
                    out[spec.group] = value
                continue
            value = self.value(res, spec, value_at(m, spec), fields[spec.path].is_required())
            if value is not None:
                out[spec.path] = value
        out = {k: v for k, v in out.items() if v is not None}
        self.result.data.setdefault(SECTION_OF[res.kind], {})[res.name] = out


def _rule(r: Rule) -> dict[str, Any]:
    which = rule_which(r)
    body = getattr(r, which).model_dump(mode="json")
    body = {k: v for k, v in body.items() if v not in ("", False) or k == "room_name"}
    return {which: _escape(body)}


def _select(state: LiveState, selectors: Sequence[str]) -> list[LiveResource]:
    every = [r for k in KINDS for r in state.all[k]]
    if not selectors:
        return every
    chosen: list[LiveResource] = []
    unknown = []
    for sel in selectors:
        found = [r for r in every if sel in (r.name, r.id)]
        if not found:
            unknown.append(sel)
        chosen.extend(r for r in found if r not in chosen)
    if unknown:
        raise SipctlError(
            f"no live outbound trunk, inbound trunk or dispatch rule has the name or ID "
            f"{', '.join(unknown)}"
        )
    return chosen


def import_resources(state: LiveState, selectors: Sequence[str] = ()) -> ImportResult:
    """The config data for the selected live resources (all when ``selectors`` is empty)."""
    chosen = _select(state, selectors)
    imp = _Importer(state)
    by_name: dict[tuple[str, str], list[LiveResource]] = {}
    for res in chosen:
        by_name.setdefault((res.kind, res.name), []).append(res)
    order: dict[str, int] = {k: i for i, k in enumerate(KINDS)}
    for (kind, name), group in sorted(by_name.items(), key=lambda x: (order[x[0][0]], x[0][1])):
        if not name:
            ids = ", ".join(r.id or "(no ID)" for r in group)
            imp.result.warnings.append(
                f"skipped {kind.replace('_', ' ')} {ids}: it has no name, and sipctl "
                "identifies resources by name (give it one, then import again)"
            )
            continue
        if len(group) > 1:
            ids = ", ".join(r.id for r in group)
            imp.result.warnings.append(
                f"skipped {describe(kind, name)}: {len(group)} live resources share the name "
                f"({ids}); rename or delete all but one, then import again"
            )
            continue
        imp.add(group[0])
    return imp.result


def render_yaml(result: ImportResult, source: str = "") -> str:
    head = ["# Written by `sipctl import`" + (f" from {source}" if source else "") + "."]
    head.append("# `sipctl plan` shows these as ~ adopt; `sipctl apply` marks them managed.")
    if result.variables:
        head.append("# Set these variables (the passwords are not read from LiveKit):")
        head += [f"#   {v.name}  ({v.resource})" for v in result.variables]
    body = yaml.safe_dump(
        result.data, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100
    )
    return "\n".join(head) + "\n" + (body if result.data else "{}\n")
