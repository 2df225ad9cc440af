"""Merge the config files section by section: each entry keeps its file (for locating
problems), ``${VAR}`` references are substituted, secrets become :class:`Secret`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sipctl.config.translate import (
    SECRET_FIELDS,
    did_you_mean,
    display,
    is_secret_path,
    kind_of,
)
from sipctl.config.yamlsource import Located, Path_, Pos
from sipctl.errors import Problem
from sipctl.models import SECTIONS
from sipctl.secrets import Secret

TOP_LEVEL = (*SECTIONS, "settings")
_VAR = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_VAR_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$")


@dataclass
class Entry:
    doc: Located
    data: Any


class _Renamed(Located):
    """The file of a resource whose key has a ``${VAR}`` in it, as seen under the name it
    stands for: problems name the resource by that name, and are located at the key as
    written (not at the top of the file)."""

    def __init__(self, doc: Located, section: str, name: str, raw: str) -> None:
        self.file = doc.file
        self._doc = doc
        self._new, self._old = (section, name), (section, raw)
        # only the path to this resource is copied (shallow): the rest is shared
        self.data = {**doc.data, section: {**doc.data[section], name: doc.data[section][raw]}}

    def __getattr__(self, name: str) -> Any:
        if name not in ("keys", "values"):
            raise AttributeError(name)
        return getattr(self._doc, name)

    def pos(self, path: Path_) -> Pos:
        if path[:2] == self._new:
            path = (*self._old, *path[2:])
        return self._doc.pos(path)


_SECRET_LEAVES = frozenset(pattern[-1] for pattern in SECRET_FIELDS)
_PLAIN = (int, float, bool, type(None))  # nothing to substitute in these


class Builder:
    """Merges files section by section, keeping each entry's file for locating errors."""

    def __init__(self, env: Mapping[str, str], offline: bool = False) -> None:
        self.env = env
        # validate --offline: an unset variable is a note (its value is not checked)
        self.offline = offline
        self.problems: list[Problem] = []
        self.entries: dict[str, dict[str, Entry]] = {s: {} for s in SECTIONS}
        self.settings: dict[str, Entry] = {}
        self.secret_sources: dict[Path_, str] = {}
        # (file, path, what): secrets written in the YAML, as a value or a ${VAR:-default}
        self.literal_secrets: list[tuple[Located, Path_, str]] = []
        self.unset_paths: set[Path_] = set()
        self._substituted: dict[str, tuple[str, list[str], list[str], str]] = {}

    def problem(self, doc: Located, path: Path_, message: str, severity: str = "error") -> None:
        pos = doc.pos(path)
        self.problems.append(Problem(display(doc.file), pos.line, pos.col, path, message, severity))

    # -- merging -----------------------------------------------------------------------
    def add(self, doc: Located) -> None:
        for key, value in doc.data.items():
            if isinstance(key, str) and key.startswith("x-"):
                continue  # a place for YAML anchors (`x-base: &base`), as in Compose files
            if key not in TOP_LEVEL:
                self.problem(doc, (key,), f"unknown top-level key{did_you_mean(key, TOP_LEVEL)}")
                continue
            if value is None:
                continue
            if not isinstance(value, dict):
                self.problem(doc, (key,), f"must be a mapping (got {kind_of(value)})")
                continue
            target = self.settings if key == "settings" else self.entries[key]
            for raw, item in value.items():
                path: Path_ = (key, raw)
                name = raw
                if key != "settings" and isinstance(raw, str) and "${" in raw:
                    # ${VAR} in a resource name: one config for several environments
                    name = self._interpolate(doc, path, raw)
                if key != "settings" and not name.strip():
                    self.problem(doc, path, "a name must not be empty")
                    continue
                if name in target:
                    first = target[name].doc
                    fpos = first.pos((key, name))
                    what = "setting" if key == "settings" else "name"
                    self.problem(
                        doc,
                        path,
                        f"{what} {name!r} is also declared at "
                        f"{display(first.file)}:{fpos.line}:{fpos.col}",
                    )
                    continue
                data = self._interpolate(doc, path, item)
                if name != raw:
                    target[name] = Entry(_Renamed(doc, key, name, raw), data)
                else:
                    target[name] = Entry(doc, data)

    def _interpolate(self, doc: Located, path: Path_, value: Any) -> Any:
        # Containers are walked inline; a string without "$" under a key no secret path
        # ends with stays as it is: no call, no path built (most of the 80,000 values of
        # 10,000 trunks), and the secret-path test runs for leaves only.
        if isinstance(value, dict):
            mapped: dict[Any, Any] = {}
            for k, v in value.items():
                t = type(v)
                if ((t is str and "$" not in v) or t in _PLAIN) and k not in _SECRET_LEAVES:
                    mapped[k] = v
                else:
                    mapped[k] = self._interpolate(doc, (*path, k), v)
            return mapped
        if isinstance(value, list):
            if all(type(v) is str and "$" not in v for v in value):
                return list(value)  # numbers: nothing to substitute, no index paths built
            return [
                v if type(v) is str and "$" not in v else self._interpolate(doc, (*path, i), v)
                for i, v in enumerate(value)
            ]
        secret = is_secret_path(path)
        if not isinstance(value, str):
            if secret and value is not None:
                self.literal_secrets.append((doc, path, "is a literal secret"))
                return Secret(str(value))
            return value
        if not secret and "$" not in value:
            return value  # most strings: no reference, no secret, no regex pass
        # A text substituted once without a problem gives the same result again (the
        # environment does not change while loading): 10,000 trunks share one
        # ${PASSWORD} reference.
        done = self._substituted.get(value)
        if done is not None:
            out, refs, defaults, source = done
        else:
            out, refs, defaults, source = self._substitute(doc, path, value)
        if secret:
            if not refs:
                self.literal_secrets.append((doc, path, "is a literal secret"))
            elif defaults:
                # a default is a secret written in the YAML, whether or not it is used
                what = f"has a literal default (${{{defaults[0]}:-...}}), i.e. a literal secret"
                self.literal_secrets.append((doc, path, what))
            return Secret(out, source)
        return out

    def _substitute(
        self, doc: Located, path: Path_, value: str
    ) -> tuple[str, list[str], list[str], str]:
        """``value`` with its references replaced, the variables it names, those with a
        default, and the references as a secret's source shows them (``${A}, ${B}``);
        problems are reported at ``path`` (and the result is then not reused)."""
        refs: list[str] = []
        defaults: list[str] = []
        problems = len(self.problems)

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
            if self.offline:
                self.problem(
                    doc, path, f"environment variable {name} is not set (not checked)", "note"
                )
            else:
                self.problem(doc, path, f"environment variable {name} is not set")
            self.unset_paths.add(path)
            return ""

        out = _VAR.sub(sub, value)
        done = (out, refs, defaults, ", ".join(f"${{{r}}}" for r in refs))
        if len(self.problems) == problems:
            self._substituted[value] = done
        return done

    # -- validation --------------------------------------------------------------------
