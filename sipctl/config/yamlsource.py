"""Read YAML into plain data while remembering where every key and value stands.

PyYAML silently keeps the last of two equal keys and forgets positions once it builds
Python objects; sipctl needs both, so it composes the node graph and walks it itself.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sipctl.config import fastyaml
from sipctl.config.limits import MAX_DEPTH, MAX_NODES
from sipctl.errors import Problem

if TYPE_CHECKING:
    import yaml
# PyYAML is imported when this reader first runs (_pyyaml): a file the fast reader
# (sipctl.config.fastyaml) takes needs none of it, which saves ~15 ms of every start-up.

Path_ = tuple[str | int, ...]

# libyaml's C parser when present (about 4x faster on large configs); same node graph.
_LOADER: Any = None
_STR_TAG = "tag:yaml.org,2002:str"


@dataclass(frozen=True)
class Pos:
    line: int  # 1-based
    col: int  # 1-based


@dataclass
class Located:
    """One file's data plus positions: ``keys[path]`` of each key, ``values[path]`` of values."""

    file: Path
    data: Any
    keys: dict[Path_, Pos]
    values: dict[Path_, Pos]

    def pos(self, path: Path_) -> Pos:
        """The best position for ``path``: its key, else its value, else the nearest parent."""
        for n in range(len(path), -1, -1):
            p = path[:n]
            if p in self.keys:
                return self.keys[p]
            if p in self.values:
                return self.values[p]
        return Pos(1, 1)


class _LazyLocated(Located):
    """Data read by the fast reader (:mod:`sipctl.config.fastyaml`), which keeps no
    positions: the located reader computes them from the same text on first use, which is
    only when there is something to report (the two readers build equal data)."""

    def __init__(self, file: Path, display: str, text: str, data: Any) -> None:
        self.file = file
        self.data = data
        self._source = (display, text)

    def __getattr__(self, name: str) -> Any:
        if name not in ("keys", "values"):
            raise AttributeError(name)
        located, _ = _load_located(self.file, *self._source)
        self.keys = located.keys if located is not None else {}
        self.values = located.values if located is not None else {}
        return getattr(self, name)


def _pos(mark: yaml.Mark | None) -> Pos:
    return Pos(mark.line + 1, mark.column + 1) if mark is not None else Pos(1, 1)


class _Walker:
    def __init__(self, file: Path, display: str) -> None:
        self.file = file
        self.display = display
        self.keys: dict[Path_, Pos] = {}
        self.values: dict[Path_, Pos] = {}
        self.problems: list[Problem] = []
        self.count = 0
        self.constructor = yaml.constructor.SafeConstructor()

    def problem(self, pos: Pos, path: Path_, message: str) -> None:
        self.problems.append(Problem(self.display, pos.line, pos.col, path, message))

    def walk(self, node: yaml.Node, path: Path_, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig
        if depth > MAX_DEPTH:
            self.problem(_pos(node.start_mark), path, f"nested deeper than {MAX_DEPTH} levels")
            return None
        self.values.setdefault(path, _pos(node.start_mark))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.walk(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        if node.tag == _STR_TAG:
            return node.value  # the common case, without the constructor's dispatch
        try:
            return self.constructor.construct_object(node, deep=True)
        except _UNREADABLE as exc:
            self.problem(_pos(node.start_mark), path, f"cannot read value: {_first_line(exc)}")
            return None

    def _mapping(self, node: yaml.MappingNode, path: Path_, depth: int) -> dict[Any, Any]:
        own = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
        try:
            self.constructor.flatten_mapping(node)  # resolves '<<' merge keys
        except yaml.YAMLError as exc:
            self.problem(_pos(node.start_mark), path, f"bad merge key: {_first_line(exc)}")
            return {}
        out: dict[Any, Any] = {}
        first: dict[Any, Pos] = {}
        # flatten_mapping puts the merged pairs first: a later pair overrides them, as
        # in PyYAML (``<<: *base`` then overrides); duplicates among the node's own keys
        # are still reported
        merged_count = len(node.value) - own
        from_merge: set[Any] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            kpos = _pos(key_node.start_mark)
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(kpos, path, "a key must be a plain string, not a list or mapping")
                continue
            try:
                key = (
                    key_node.value
                    if key_node.tag == _STR_TAG
                    else self.constructor.construct_object(key_node)
                )
            except _UNREADABLE as exc:
                self.problem(kpos, path, f"cannot read key: {_first_line(exc)}")
                continue
            if key is None or isinstance(key, bool | float):
                self.problem(kpos, path, f"a key must be a string (got {key_node.value!r})")
                continue
            key = str(key)
            if key in from_merge:
                from_merge.discard(key)
                del first[key]
            if index < merged_count:
                from_merge.add(key)
            if key in first:
                where = first[key]
                self.problem(
                    kpos,
                    (*path, key),
                    f"duplicate key {key!r} (first at line {where.line}; "
                    "YAML would silently keep only the last)",
                )
                continue
            first[key] = kpos
            self.keys[(*path, key)] = kpos
            out[key] = self.walk(value_node, (*path, key), depth + 1)
        return out


class _TooBig(Exception):
    pass


# What PyYAML's constructors raise for a well-formed scalar they cannot convert: their own
# errors, and plain ValueErrors from int()/datetime() (`!!int abc`, a key `2001-13-45`).
# What constructing a scalar or key may raise (with PyYAML's YAMLError, set by _pyyaml).
_UNREADABLE: tuple[type[Exception], ...] = (ValueError, OverflowError)


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        return str(exc.problem or exc.context or "invalid YAML")
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def load_yaml(file: Path, display: str, text: str) -> tuple[Located | None, list[Problem]]:
    """Parse one YAML document; return its located data, or the problems that stop it.

    The fast reader first; when it is unsure (or the file has a problem), this module's
    own reader, which keeps every position."""
    data = fastyaml.parse(text)
    if data is not None:
        return _LazyLocated(file, display, text, data), []
    return _load_located(file, display, text)


def _pyyaml() -> None:
    global _LOADER, _UNREADABLE
    if _LOADER is None:
        module = importlib.import_module("yaml")
        globals()["yaml"] = module
        _LOADER = getattr(module, "CSafeLoader", module.SafeLoader)
        _UNREADABLE = (module.YAMLError, ValueError, OverflowError)


def _load_located(file: Path, display: str, text: str) -> tuple[Located | None, list[Problem]]:
    _pyyaml()
    try:
        nodes = list(yaml.compose_all(text, Loader=_LOADER))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = _pos(mark)
        what = exc.problem or "invalid YAML"
        if exc.context:
            what = f"{exc.context}: {what}" if exc.problem else exc.context
        return None, [Problem(display, pos.line, pos.col, (), f"YAML syntax error: {what}")]
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        return None, [Problem(display, 1, 1, (), f"YAML syntax error: {_first_line(exc)}")]
    if len(nodes) > 1:
        pos = _pos(nodes[1].start_mark)
        return None, [Problem(display, pos.line, pos.col, (), "holds more than one YAML document")]
    walker = _Walker(file, display)
    if not nodes or nodes[0] is None:
        return Located(file, {}, {}, {}), []
    try:
        data = walker.walk(nodes[0], (), 0)
    except _TooBig:
        return None, [Problem(display, 1, 1, (), f"more than {MAX_NODES} YAML nodes")]
    except RecursionError:
        return None, [Problem(display, 1, 1, (), "YAML nested too deeply")]
    if data is None:
        data = {}
    if not isinstance(data, dict):
        pos = _pos(nodes[0].start_mark)
        kind = "a list" if isinstance(data, list) else f"a {type(data).__name__}"
        walker.problems.append(
            Problem(
                display,
                pos.line,
                pos.col,
                (),
                f"must be a mapping with keys such as outbound_trunks (got {kind})",
            )
        )
        return None, walker.problems
    return Located(file, data, walker.keys, walker.values), walker.problems
