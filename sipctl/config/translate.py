"""Messages for config problems: pydantic's errors turned into located problems that name
file, line and field; the small wording helpers the loader's other parts share."""

from __future__ import annotations

import difflib
import functools
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from sipctl.config.yamlsource import Located, Path_
from sipctl.errors import Problem
from sipctl.fields import KINDS, SECRET_PATHS, SECTION_OF
from sipctl.models import DispatchRule, InboundTrunk, OutboundTrunk

# Fields that hold secrets: always ${VAR} references, never echoed in messages.
SECRET_FIELDS: tuple[tuple[str, ...], ...] = tuple(
    (SECTION_OF[kind], "*", *path.split(".")) for kind in KINDS for path in SECRET_PATHS[kind]
)


@functools.lru_cache(maxsize=256)
def display(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


# the same, keyed without the resource name (the pattern's "*"): one set lookup per value
_SECRET_KEYS = frozenset((pat[0], *pat[2:]) for pat in SECRET_FIELDS)


def is_secret_path(path: Path_) -> bool:
    return len(path) > 2 and (path[0], *path[2:]) in _SECRET_KEYS


def kind_of(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "nothing"
    return f"a {type(value).__name__}"


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


# -- pydantic errors -> located problems ---------------------------------------------------


def translate(
    exc: ValidationError, doc: Located, base: Path_, model: type[BaseModel]
) -> list[Problem]:
    out: list[Problem] = []
    seen: set[Path_] = set()
    for err in exc.errors():
        for p in translate_one(err, doc, base, model):
            if p.path in seen:
                continue  # a union reports each alternative; one message per place is enough
            seen.add(p.path)
            out.append(p)
    return out


def _real_path(loc: tuple[Any, ...], data: Any) -> Path_:
    """Drop pydantic's union/function tags: keep the steps that exist in the data."""
    out: list[str | int] = []
    cur = data
    for step in loc:
        if (isinstance(cur, dict) and step in cur) or (
            isinstance(cur, list) and isinstance(step, int) and 0 <= step < len(cur)
        ):
            out.append(step)
            cur = cur[step]
        elif isinstance(cur, dict) and isinstance(step, str) and step.isidentifier():
            # a missing or unknown key (the leaf): keep it so the message names it
            if step not in _TAG_WORDS and not step[:1].isupper():
                out.append(step)
            cur = None
        # else: a union tag such as "literal['answered']" or "ExpectStatus": skip
    return tuple(out)


_TAG_WORDS = {"function-after", "function-before", "function-plain", "function-wrap"}


def translate_one(err: Any, doc: Located, base: Path_, model: type[BaseModel]) -> list[Problem]:
    entry_data = _get(doc.data, base)
    rel = _real_path(tuple(err["loc"]), entry_data)
    path: Path_ = (*base, *rel)
    typ: str = err["type"]
    secret = is_secret_path(path)
    msg = _message(err, typ, secret, model, rel)
    if typ == "missing":
        pos = doc.pos(path[:-1])
    elif typ == "extra_forbidden":
        pos = doc.keys.get(path) or doc.pos(path)
    else:
        pos = doc.pos(path)
    return [Problem(display(doc.file), pos.line, pos.col, path, msg)]


def _get(data: Any, path: Path_) -> Any:
    cur = data
    for step in path:
        if isinstance(cur, dict) and step in cur:
            cur = cur[step]
        else:
            return None
    return cur


_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping",
    "list_type": "a list",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _message(err: Any, typ: str, secret: bool, model: type[BaseModel], rel: Path_) -> str:
    value = err.get("input")
    got = "" if secret else f" (got {value!r})" if not isinstance(value, dict | list) else ""
    if rel and rel[-1] == "expect" and typ in ("literal_error", "model_type", "string_type"):
        return f"must be 'answered', {{sip_status: 486}} or {{rings_out: true}}{got}"
    if typ == "extra_forbidden":
        field_name = str(rel[-1]) if rel else ""
        return f"unknown field{did_you_mean(field_name, _fields_at(model, rel[:-1]))}"
    if typ == "missing":
        return "is required"
    if typ == "enum":
        expected = err.get("ctx", {}).get("expected", "")
        choices = ", ".join(x.strip().strip("'") for x in re.split(r",| or ", expected) if x)
        return f"must be one of {choices}{got}"
    if typ == "literal_error":
        return f"must be {err.get('ctx', {}).get('expected', '')}{got}"
    if typ in _TYPE_WORDS:
        return f"must be {_TYPE_WORDS[typ]} (got {kind_of(value)})"
    if typ in ("value_error", "assertion_error"):
        text = str(err["msg"])
        for prefix in ("Value error, ", "Assertion failed, "):
            text = text.removeprefix(prefix)
        return text
    if typ == "too_short" and rel and rel[-1] == "numbers":
        return "must list at least one number"
    text = str(err["msg"])
    return text[:1].lower() + text[1:]


def _fields_at(model: type[BaseModel], rel: Path_) -> list[str]:
    """The field names allowed at ``rel`` inside ``model`` (for did-you-mean)."""
    current: Any = model
    for step in rel:
        current = _step(current, step)
        if current is None:
            return []
    cls = _model_of(current)
    if cls is None:
        return []
    names = []
    for name, info in cls.model_fields.items():
        names.append(info.alias or name)
    if cls in (OutboundTrunk, InboundTrunk, DispatchRule):
        names.append("media_encryption")
    return names


def _model_of(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in typing.get_args(tp):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _step(tp: Any, step: str | int) -> Any:
    cls = _model_of(tp) if not _is_container(tp) else None
    if cls is not None and isinstance(step, str):
        for name, info in cls.model_fields.items():
            if step in (name, info.alias):
                return info.annotation
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (dict, Mapping) and len(args) == 2:
        return args[1]
    if origin is list and args:
        return args[0]
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            got = _step(arg, step)
            if got is not None:
                return got
    if origin is typing.Annotated and args:
        return _step(args[0], step)
    return None


def _is_container(tp: Any) -> bool:
    return typing.get_origin(tp) in (dict, list, Mapping)
