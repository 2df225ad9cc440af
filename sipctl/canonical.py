"""The canonical, comparable form of a resource model, driven by :mod:`sipctl.fields`.

Two models that LiveKit would treat alike have equal canonical forms: lists whose order
LiveKit ignores are sorted, an absent, empty or all-default ``media`` is the defaults,
enums are their YAML names. Passwords are left out (compared by fingerprint, see
:mod:`sipctl.diff`).
"""

from __future__ import annotations

import functools
from typing import Any

from sipctl.fields import FIELDS, FieldSpec, Value
from sipctl.models import Media, Resource, Rule


def value_at(model: Any, spec: FieldSpec) -> Any:
    """The model's value of a row (None when its nested model, e.g. ``auth``, is unset)."""
    if spec.group:
        model = getattr(model, spec.group, None)
        if model is None:
            return None
    return getattr(model, spec.leaf, None)


def media_form(m: Media | None) -> dict[str, Any]:
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


MEDIA_DEFAULTS: dict[str, Any] = {"media.encryption": "disable", "media.only_listed_codecs": False}


def rule_which(rule: Rule) -> str:
    return "direct" if rule.direct else "individual" if rule.individual else "callee"


def form(spec: FieldSpec, v: Any) -> Any:
    """The canonical value of one row (not MEDIA, which flattens to several)."""
    kind = spec.value
    if kind in (Value.STR,):
        return v or ""
    if kind is Value.BOOL:
        return bool(v)
    if kind in (Value.LIST, Value.TRUNKS):
        items = list(v or [])
        return sorted(items) if spec.sort else items
    if kind is Value.MAP:
        return dict(v or {})
    if kind is Value.ENUM:
        return v.value if v is not None else spec.default
    if kind is Value.METADATA:
        return dict(v) if isinstance(v, dict) else v
    if kind is Value.ROOM_CONFIG:
        return v.model_dump(mode="json") if v is not None else None
    if kind is Value.RULE:
        which = rule_which(v)
        return {which: getattr(v, which).model_dump(mode="json")}
    return v  # INT, DURATION: None when unset


def canonical(kind: str, m: Resource) -> dict[str, Any]:
    """The JSON-able form two models are compared in, one entry per row (media: four)."""
    out: dict[str, Any] = {}
    for path, spec, group, leaf, plain in _rows(kind):
        holder: Any = m
        if group:
            holder = getattr(m, group, None)
            v = None if holder is None else getattr(holder, leaf, None)
        else:
            v = getattr(m, leaf, None)
        if plain:  # the common rows, inline (20,000 forms at 10,000 trunks)
            out[path] = v or ""
        elif spec.value is Value.MEDIA:
            out.update(media_form(v))
        else:
            out[path] = form(spec, v)
    return out


@functools.cache
def _rows(kind: str) -> tuple[tuple[str, FieldSpec, str, str, bool], ...]:
    """The kind's rows as canonical() walks them: what :func:`value_at` and :func:`form`
    would work out per call, worked out once (same values)."""
    return tuple(
        (spec.path, spec, spec.group, spec.leaf, spec.value is Value.STR)
        for spec in FIELDS[kind]
        if spec.value is not Value.SECRET
    )


def default_of(kind: str, path: str) -> Any:
    """The canonical value a create does not bother to show (besides empty values)."""
    if path in MEDIA_DEFAULTS:
        return MEDIA_DEFAULTS[path]
    for spec in FIELDS[kind]:
        if spec.path == path:
            return spec.default
    return None


def desired_password(m: Resource) -> str:
    auth = getattr(m, "auth", None)
    if auth is None or auth.password is None:
        return ""
    value: str = auth.password.reveal()
    return value
