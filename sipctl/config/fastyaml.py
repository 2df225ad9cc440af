"""A fast way to read a config file, for the common case; ``None`` whenever it is not sure.

PyYAML's parser (even libyaml's) composes about a megabyte a second here, which made
loading the YAML most of a 10,000-trunk ``plan``. rapidyaml parses the same file in a few
milliseconds and writes it as JSON, which the standard library reads at C speed; the cost
is that positions are lost, and that rapidyaml's types are not PyYAML's (YAML 1.2 against
PyYAML's 1.1: ``yes``, ``0x1F``, ``1_000`` or ``2001-12-14`` are plain strings to one and a
boolean, numbers or a date to the other). So this reader answers only when its data is
exactly what the located reader (:mod:`sipctl.config.yamlsource`) would build, and gives
up (``None``) otherwise:

- text with anchors, aliases, tags, merge keys, directives, several documents, tabs,
  complex keys or a byte-order mark (``_unsure_text``), or that rapidyaml refuses;
- a root that is not a mapping; a duplicate key (the data then holds fewer nodes than
  rapidyaml's tree: ``_counted``);
- a string that PyYAML would read as something else when written plain, unless rapidyaml
  would have written that plain scalar as a JSON number, ``true``, ``false`` or ``null``
  (then the string must have been quoted); for keys, any such string but a canonical
  integer (whose ``str`` is itself, as the located reader makes keys);
- a float, or an integer that is not canonical (``parse_float``/``parse_int``);
- more nodes or deeper nesting than the located reader accepts (it reports those).

The differential tests (tests/test_config_fastyaml.py) hold it to that: for every input
it accepts, its data equals the located reader's. Positions are computed by the located
reader only when something needs one (an error or warning to report).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from typing import Any

from sipctl.config.limits import MAX_DEPTH, MAX_NODES


class _Unsure(Exception):
    pass


# Indicators the fast path leaves to PyYAML: anchors, aliases, tags, merge keys, tabs, a
# BOM; complex keys, directives and document markers. Found inside quoted strings too,
# which only costs the fast path. (Substring tests first: a regex pass costs 20x more.)
_UNSURE_CHARS = ("&", "*", "!", "\t", "\ufeff", "<<")
_UNSURE_LINE = re.compile(r"^(?:\s*\?(?:\s|$)|%|---|\.\.\.)", re.M)
# A key, value or flow item that starts with a character PyYAML refuses there (rapidyaml
# takes some of them): flow closers and separators, reserved indicators, a block scalar
# header with junk after it.
_ODD_START = re.compile(
    r"""
    (?: ^[ ]*(?:-[ ]+)* | :[ ]+ ) (?: [\]},%@`] | [|>](?![-+1-9]{0,2}[ ]*(?:\#.*)?$) )
    | [\[{,][ ]*[,%@`|>:?#]
    """,
    re.M | re.X,
)


# _ODD_START is slow on megabytes (it tries at every colon and line). When none of its
# rarer characters occurs, two narrow searches find the rest: a flow item starting with
# "," or ":" (exact), and "]", "}" or "," after a blank (its line is then checked; the
# blank is matched rather than looked behind for: half the time on 10,000 trunks).
_RARE_ODD = ("%", "@", "`", "|", ">", "?", "#")
_ODD_FLOW = re.compile(r"[\[{,][ ]*[,:]")
_ODD_CLOSER = re.compile(r"[ \n][\]},]")


def _odd_start(text: str) -> bool:
    if any(c in text for c in _RARE_ODD):
        return _ODD_START.search(text) is not None
    if _ODD_FLOW.search(text) or text[:1] in ("]", "}", ","):
        return True
    for m in _ODD_CLOSER.finditer(text):
        start = text.rfind("\n", 0, m.end() - 1) + 1
        end = text.find("\n", m.end())
        if _ODD_START.search(text[start : end if end >= 0 else len(text)]):
            return True
    return False


def _unsure_text(text: str) -> bool:
    if any(c in text for c in _UNSURE_CHARS):
        return True
    maybe_line = "?" in text or "%" in text or "---" in text or "..." in text
    if maybe_line and _UNSURE_LINE.search(text):
        return True
    return _odd_start(text)


# PyYAML's implicit resolvers for every type but str (yaml/resolver.py: bool, null, float,
# int, timestamp, merge, value, yaml), YAML 1.1's, as one verbose alternation. Written out,
# so that a file the fast reader takes needs no PyYAML import (~15 ms of start-up); a test
# holds it equal to PyYAML's own (tests/test_config_fastyaml.py).
_R = r"""
    (?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)
  | (?: ~ |null|Null|NULL| )
  | (?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
      |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
      |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
      |[-+]?\.(?:inf|Inf|INF)
      |\.(?:nan|NaN|NAN))
  | (?:[-+]?0b[0-1_]+
      |[-+]?0[0-7_]+
      |[-+]?(?:0|[1-9][0-9_]*)
      |[-+]?0x[0-9a-fA-F_]+
      |[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)
  | (?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
      |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
       (?:[Tt]|[ \t]+)[0-9][0-9]?
       :[0-9][0-9] :[0-9][0-9] (?:\.[0-9]*)?
       (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)
  | (?:<<)
  | (?:=)
  | (?:!|&|\*)
"""
# Plain scalars rapidyaml writes unquoted in JSON (so a JSON string with this content
# was quoted in the YAML, and PyYAML reads a quoted scalar as a string).
_UNQUOTED_IF_PLAIN = r"(?:[-+]?(?:0|[1-9][0-9]*)|true|false|null|)"
_CANONICAL_INT_KEY = r"(?:0|-?[1-9][0-9]*)"
# The first characters of those patterns (PyYAML indexes its resolvers by them; the empty
# scalar is the quote itself): a cheap look-ahead that lets most strings fail at once.
_FIRST = re.escape("yYnNtTfFoO-+0123456789.<~=!&*")
# A JSON string token (no escapes: no pattern of _R has a quote or a backslash) whose
# content PyYAML would type when plain, as a value or as a key.
_UNSURE_JSON = re.compile(
    rf"""
    "(?=[{_FIRST}"])
    (?: (?!{_UNQUOTED_IF_PLAIN}")(?:{_R})"(?!\s*:)     # a value
      | (?!{_CANONICAL_INT_KEY}")(?:{_R})"\s*:         # a key
    )
    """,
    re.X,
)
_CANONICAL_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")


def _int(text: str) -> int:
    if not _CANONICAL_INT.fullmatch(text):
        raise _Unsure
    return int(text)


def _float(text: str) -> float:
    raise _Unsure  # rare in configs; PyYAML 1.1 floats differ from JSON's (1e3, .5, ...)


def _constant(text: str) -> Any:
    raise _Unsure


def parse(text: str) -> dict[str, Any] | None:
    """The file's data as the located reader would build it, or ``None`` when unsure."""
    if _unsure_text(text):
        return None
    try:
        import ryml  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - a dependency; a broken install stays correct
        return None
    try:
        with _quiet_stderr():  # rapidyaml prints its parse errors on fd 2 before raising
            tree = ryml.parse_in_arena(text.encode("utf-8"))
        root = tree.root_id()
        if not tree.is_map(root):
            return None
        nodes = tree.size()  # the root, every key's value and every item
        out = ryml.emit_json_malloc(tree, root)
        js = out if isinstance(out, str) else bytes(out).decode("utf-8")
    except Exception:  # rapidyaml refuses it: the located reader says why, with a position
        return None
    if _UNSURE_JSON.search(js):
        return None
    try:
        data = json.loads(js, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except (_Unsure, ValueError):
        return None
    if not isinstance(data, dict) or _counted(data) != nodes:
        return None
    return data


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
        finally:
            os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _counted(root: dict[str, Any]) -> int:
    """The nodes of ``root`` counted as the located reader counts them (every value and
    item is a node), level by level (about 7 ms for 80,000 nodes); -1 past its bounds
    (it reports those)."""
    count, depth = 1, 0
    level: list[Any] = [root]
    while level:
        below: list[Any] = []
        for node in level:
            if type(node) is dict:
                below.extend(node.values())
            elif type(node) is list:
                below.extend(node)
        count += len(below)
        if count > MAX_NODES or (below and depth + 1 > MAX_DEPTH):
            return -1
        level, depth = below, depth + 1
    return count
