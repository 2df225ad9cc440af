"""Load the config directory: every YAML file, merged, interpolated, validated, located.

``load_config(dir)`` returns a :class:`Config` or raises :class:`ConfigError` with every
problem found at once, each as ``file:line:col: path: message``.
"""

from __future__ import annotations

import difflib
import functools
import gc
import os
import re
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from sipctl.config.yamlsource import Located, Path_, Pos, load_yaml
from sipctl.errors import ConfigError, Problem, format_path
from sipctl.fields import KINDS, SECRET_PATHS, SECTION_OF
from sipctl.models import (
    DIGITS,
    SECTIONS,
    ConfigFile,
    DispatchRule,
    InboundTrunk,
    OutboundTrunk,
    Settings,
    TestCall,
)
from sipctl.secrets import Secret

TOP_LEVEL = (*SECTIONS, "settings")
# Fields that hold secrets: always ${VAR} references, never echoed in messages.
SECRET_FIELDS: tuple[tuple[str, ...], ...] = tuple(
    (SECTION_OF[kind], "*", *path.split(".")) for kind in KINDS for path in SECRET_PATHS[kind]
)
_VAR = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_VAR_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$")


class DeclaredAt(Mapping[tuple[str, str], str]):
    """(section, name) -> "file:line", worked out when asked: positions are computed only
    when something needs one (sipctl.config.fastyaml)."""

    def __init__(self) -> None:
        self._docs: dict[tuple[str, str], Located] = {}

    def add(self, key: tuple[str, str], doc: Located) -> None:
        self._docs[key] = doc

    def __getitem__(self, key: tuple[str, str]) -> str:
        doc = self._docs[key]
        return f"{_display(doc.file)}:{doc.pos(key).line}"

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._docs)

    def __len__(self) -> int:
        return len(self._docs)


@dataclass
class Config:
    """The desired state and test calls, merged from every file of the config directory."""

    directory: Path
    files: list[Path]
    outbound_trunks: dict[str, OutboundTrunk] = field(default_factory=dict)
    inbound_trunks: dict[str, InboundTrunk] = field(default_factory=dict)
    dispatch_rules: dict[str, DispatchRule] = field(default_factory=dict)
    test_calls: dict[str, TestCall] = field(default_factory=dict)
    settings: Settings = field(default_factory=Settings)
    warnings: list[Problem] = field(default_factory=list)
    # Where each resource is declared: (section, name) -> "file:line".
    declared_at: DeclaredAt = field(default_factory=lambda: DeclaredAt())

    def summary(self) -> str:
        parts = [
            (len(self.outbound_trunks), "outbound trunk"),
            (len(self.inbound_trunks), "inbound trunk"),
            (len(self.dispatch_rules), "dispatch rule"),
            (len(self.test_calls), "test call"),
        ]
        text = ", ".join(f"{n} {what}{'s' if n != 1 else ''}" for n, what in parts)
        nfiles = len(self.files)
        return f"{text} in {nfiles} file{'s' if nfiles != 1 else ''}"


def find_files(directory: Path) -> list[Path]:
    files = [
        p
        for pattern in ("*.yaml", "*.yml")
        for p in directory.rglob(pattern)
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    ]
    return sorted(files)


@functools.lru_cache(maxsize=256)
def _display(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def load_config(directory: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read, merge and validate every ``*.yaml``/``*.yml`` under ``directory``."""
    # Loading builds many small objects and frees almost none: the cyclic collector's
    # passes over them cost a third of the load time of a 10,000-trunk config.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _load_config(directory, env)
    finally:
        if enabled:
            gc.enable()


def _load_config(directory: str | Path, env: Mapping[str, str] | None) -> Config:
    env = os.environ if env is None else env
    directory = Path(directory)
    display_dir = _display(directory)
    if not directory.is_dir():
        raise ConfigError([Problem(display_dir, 0, 0, (), "config directory not found")])
    files = find_files(directory)
    if not files:
        raise ConfigError(
            [Problem(display_dir, 0, 0, (), "no *.yaml or *.yml files in the config directory")]
        )
    problems: list[Problem] = []
    located: list[Located] = []
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(_display(f), 1, 1, (), f"cannot read file: {exc}"))
            continue
        doc, found = load_yaml(f, _display(f), text)
        problems.extend(found)
        if doc is not None:
            located.append(doc)
    builder = _Builder(env)
    for doc in located:
        builder.add(doc)
    problems.extend(builder.problems)
    config = Config(directory=directory, files=files)
    # Validate what could be read even when other parts had problems (report all at once),
    # but not at places already reported (an unset variable would also be "empty").
    reported = builder.unset_paths
    problems.extend(
        p for p in builder.validate(config) if not any(p.path[: len(r)] == r for r in reported)
    )
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ConfigError(problems)
    config.warnings = sorted(p for p in problems if p.severity == "warning")
    return config


@dataclass
class _Entry:
    doc: Located
    data: Any


class _Builder:
    """Merges files section by section, keeping each entry's file for locating errors."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[Problem] = []
        self.entries: dict[str, dict[str, _Entry]] = {s: {} for s in SECTIONS}
        self.settings: dict[str, _Entry] = {}
        self.secret_sources: dict[Path_, str] = {}
        # (file, path, what): secrets written in the YAML, as a value or a ${VAR:-default}
        self.literal_secrets: list[tuple[Located, Path_, str]] = []
        self.unset_paths: set[Path_] = set()

    def problem(self, doc: Located, path: Path_, message: str, severity: str = "error") -> None:
        pos = doc.pos(path)
        self.problems.append(
            Problem(_display(doc.file), pos.line, pos.col, path, message, severity)
        )

    # -- merging -----------------------------------------------------------------------
    def add(self, doc: Located) -> None:
        for key, value in doc.data.items():
            if key not in TOP_LEVEL:
                self.problem(doc, (key,), f"unknown top-level key{_did_you_mean(key, TOP_LEVEL)}")
                continue
            if value is None:
                continue
            if not isinstance(value, dict):
                self.problem(doc, (key,), f"must be a mapping (got {_kind(value)})")
                continue
            target = self.settings if key == "settings" else self.entries[key]
            for name, item in value.items():
                path: Path_ = (key, name)
                if key != "settings" and not name.strip():
                    self.problem(doc, path, "a name must not be empty")
                    continue
                if name in target:
                    first = target[name].doc
                    fpos = first.pos(path)
                    what = "setting" if key == "settings" else "name"
                    self.problem(
                        doc,
                        path,
                        f"{what} {name!r} is also declared at "
                        f"{_display(first.file)}:{fpos.line}:{fpos.col}",
                    )
                    continue
                target[name] = _Entry(doc, self._interpolate(doc, path, item))

    def _interpolate(self, doc: Located, path: Path_, value: Any) -> Any:
        secret = _is_secret_path(path)
        if isinstance(value, dict):
            return {k: self._interpolate(doc, (*path, k), v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._interpolate(doc, (*path, i), v) for i, v in enumerate(value)]
        if not isinstance(value, str):
            if secret and value is not None:
                self.literal_secrets.append((doc, path, "is a literal secret"))
                return Secret(str(value))
            return value
        refs: list[str] = []
        defaults: list[str] = []

        def sub(m: re.Match[str]) -> str:
            if m.group(0) == "$${":
                return "${"
            inner = m.group(1)
            vm = _VAR_NAME.match(inner)
            if vm is None:
                self.problem(doc, path, f"bad variable reference ${{{inner}}}")
                return ""
            name, default = vm.group(1), vm.group(2)
            refs.append(name)
            if default is not None:
                defaults.append(name)
            if name in self.env:
                return self.env[name]
            if default is not None:
                return default
            self.problem(doc, path, f"environment variable {name} is not set")
            self.unset_paths.add(path)
            return ""

        out = _VAR.sub(sub, value)
        if secret:
            if not refs:
                self.literal_secrets.append((doc, path, "is a literal secret"))
            elif defaults:
                # a default is a secret written in the YAML, whether or not it is used
                what = f"has a literal default (${{{defaults[0]}:-...}}), i.e. a literal secret"
                self.literal_secrets.append((doc, path, what))
            return Secret(out, source=", ".join(f"${{{r}}}" for r in refs))
        return out

    # -- validation --------------------------------------------------------------------
    def validate(self, config: Config) -> list[Problem]:
        out: list[Problem] = []
        settings = self._validate_settings(out)
        config.settings = settings
        if not settings.allow_literal_secrets:
            for doc, path, what in self.literal_secrets:
                pos = doc.pos(path)
                out.append(
                    Problem(
                        _display(doc.file),
                        pos.line,
                        pos.col,
                        path,
                        f"{what}: write a ${{VARIABLE}} reference and set it in the "
                        "environment (or set settings.allow_literal_secrets: true)",
                    )
                )
        defaults = settings.test_call_defaults.model_dump(exclude_none=True, by_alias=True)
        models: dict[str, type[BaseModel]] = {
            "outbound_trunks": OutboundTrunk,
            "inbound_trunks": InboundTrunk,
            "dispatch_rules": DispatchRule,
            "test_calls": TestCall,
        }
        for section, model in models.items():
            built: dict[str, Any] = getattr(config, section)
            for name, entry in self.entries[section].items():
                data = entry.data
                if section == "test_calls" and isinstance(data, dict):
                    data = {**defaults, **data}
                    if "answer_within" not in entry.data and "ringing_timeout" in entry.data:
                        # a call's own ringing timeout bounds the default answer_within
                        data.pop("answer_within", None)
                try:
                    built[name] = model.model_validate(data)
                except ValidationError as exc:
                    out.extend(_translate(exc, entry.doc, (section, name), model))
                    continue
                config.declared_at.add((section, name), entry.doc)
        out.extend(self._cross_check(config))
        return out

    def _validate_settings(self, out: list[Problem]) -> Settings:
        """The settings; on errors, reported, the valid ones (so the rest is still checked)."""
        data = {k: e.data for k, e in self.settings.items()}
        try:
            return Settings.model_validate(data)
        except ValidationError as exc:
            bad: set[str] = set()
            for err in exc.errors():
                key = str(err["loc"][0]) if err["loc"] else ""
                bad.add(key)
                entry = self.settings.get(key)
                if entry is None:
                    entry = next(iter(self.settings.values()))
                out.extend(_translate_one(err, entry.doc, ("settings",), Settings))
        try:
            return Settings.model_validate({k: v for k, v in data.items() if k not in bad})
        except ValidationError:
            return Settings()

    def _trunk_numbers(self, config: Config, ref: object) -> list[str] | None:
        """An outbound trunk's numbers: from its model, or its raw data when it is invalid."""
        if not isinstance(ref, str):
            return None
        known = config.outbound_trunks.get(ref)
        if known is not None:
            return list(known.numbers)
        entry = self.entries["outbound_trunks"].get(ref)
        raw = entry.data.get("numbers") if entry and isinstance(entry.data, dict) else None
        if isinstance(raw, list) and raw and all(isinstance(n, str) for n in raw):
            return raw
        return None

    def _cross_check(self, config: Config) -> list[Problem]:
        out: list[Problem] = []

        def at(section: str, name: str, *rest: str | int) -> Located:
            return self.entries[section][name].doc

        def add(section: str, name: str, rest: Path_, msg: str, severity: str = "error") -> None:
            doc = at(section, name)
            path = (section, name, *rest)
            pos = doc.pos(path)
            out.append(Problem(_display(doc.file), pos.line, pos.col, path, msg, severity))

        for name, trunk in config.outbound_trunks.items():
            for i, n in enumerate(trunk.numbers):
                if DIGITS.match(n):
                    add(
                        "outbound_trunks",
                        name,
                        ("numbers", i),
                        f"{n!r} has no leading '+': fine if your provider wants digits only "
                        "(Telnyx does), otherwise write E.164",
                        "warning",
                    )
        # References are checked on the raw data, so that they are reported even when the
        # resource has other errors (validate reports everything at once).
        for name, entry in self.entries["dispatch_rules"].items():
            trunks = entry.data.get("trunks") if isinstance(entry.data, dict) else None
            for i, t in enumerate(trunks if isinstance(trunks, list) else []):
                if isinstance(t, str) and t not in self.entries["inbound_trunks"]:
                    add(
                        "dispatch_rules",
                        name,
                        ("trunks", i),
                        f"names inbound trunk {t!r}, which is not declared"
                        f"{_did_you_mean(t, self.entries['inbound_trunks'])}",
                    )
        for name, entry in self.entries["test_calls"].items():
            raw = entry.data if isinstance(entry.data, dict) else {}
            ref, from_ = raw.get("trunk"), raw.get("from")
            numbers = self._trunk_numbers(config, ref)
            if isinstance(ref, str) and ref not in self.entries["outbound_trunks"]:
                add(
                    "test_calls",
                    name,
                    ("trunk",),
                    f"names outbound trunk {ref!r}, which is not declared"
                    f"{_did_you_mean(ref, self.entries['outbound_trunks'])}",
                )
            elif numbers is not None and isinstance(from_, str) and from_ not in numbers:
                add(
                    "test_calls",
                    name,
                    ("from",),
                    f"{from_!r} is not one of trunk {ref}'s numbers ({', '.join(numbers)})",
                )
        calls_per_hour = 0.0
        for call in config.test_calls.values():
            known = config.outbound_trunks.get(call.trunk)
            if known is not None and call.from_ is None:
                call.from_ = known.numbers[0]  # the documented default: the trunk's first
            if call.schedule:
                calls_per_hour += _runs_per_hour(call.schedule) * (1 + call.retries)
        limit = config.settings.max_calls_per_hour
        if calls_per_hour > limit and config.test_calls:
            first = next(iter(config.test_calls))
            add(
                "test_calls",
                first,
                (),
                f"the schedules dial up to {calls_per_hour:.0f} calls an hour, more than "
                f"settings.max_calls_per_hour ({limit}); --watch will skip runs over the cap",
                "warning",
            )
        return out


def _runs_per_hour(schedule: str) -> float:
    from sipctl.durations import parse_duration

    if schedule.startswith("every "):
        return 3600.0 / parse_duration(schedule[len("every ") :])
    from datetime import datetime, timedelta

    from croniter import croniter

    start = datetime(2026, 1, 5)  # a Monday: count one week of runs
    it = croniter(schedule, start)
    n = 0
    while n < 10_081:
        nxt = it.get_next(datetime)
        if nxt >= start + timedelta(days=7):
            break
        n += 1
    return n / (7 * 24)


def _is_secret_path(path: Path_) -> bool:
    if len(path) != 4 or path[-1] != "password":  # cheap test first: called per value
        return False
    return any(
        len(path) == len(pat) and all(p == "*" or p == q for p, q in zip(pat, path, strict=True))
        for pat in SECRET_FIELDS
    )


def _kind(value: object) -> str:
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


def _did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


# -- pydantic errors -> located problems ---------------------------------------------------


def _translate(
    exc: ValidationError, doc: Located, base: Path_, model: type[BaseModel]
) -> list[Problem]:
    out: list[Problem] = []
    seen: set[Path_] = set()
    for err in exc.errors():
        for p in _translate_one(err, doc, base, model):
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


def _translate_one(err: Any, doc: Located, base: Path_, model: type[BaseModel]) -> list[Problem]:
    entry_data = _get(doc.data, base)
    rel = _real_path(tuple(err["loc"]), entry_data)
    path: Path_ = (*base, *rel)
    typ: str = err["type"]
    secret = _is_secret_path(path)
    msg = _message(err, typ, secret, model, rel)
    if typ == "missing":
        pos = doc.pos(path[:-1])
    elif typ == "extra_forbidden":
        pos = doc.keys.get(path) or doc.pos(path)
    else:
        pos = doc.pos(path)
    return [Problem(_display(doc.file), pos.line, pos.col, path, msg)]


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
        return f"unknown field{_did_you_mean(field_name, _fields_at(model, rel[:-1]))}"
    if typ == "missing":
        return "is required"
    if typ == "enum":
        expected = err.get("ctx", {}).get("expected", "")
        choices = ", ".join(x.strip().strip("'") for x in re.split(r",| or ", expected) if x)
        return f"must be one of {choices}{got}"
    if typ == "literal_error":
        return f"must be {err.get('ctx', {}).get('expected', '')}{got}"
    if typ in _TYPE_WORDS:
        return f"must be {_TYPE_WORDS[typ]} (got {_kind(value)})"
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


__all__ = ["Config", "ConfigFile", "Pos", "find_files", "format_path", "load_config"]
