"""The code-shape rules that import contracts cannot state (issue #11): command modules
stay thin, no product module grows past 500 lines, and imports stand at the top of
modules unless a one-line comment says why one waits (the lazy command table, an
optional dependency, a start-up time)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sipctl"
SANDBOX = PACKAGE / "sandbox"
PRODUCT = sorted(p for p in PACKAGE.rglob("*.py") if SANDBOX not in p.parents)
COMMANDS = sorted((PACKAGE / "commands").glob("*.py"))


def rel(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent)) if PACKAGE in path.parents else path.name


def lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_every_command_module_under_150_lines() -> None:
    assert {rel(p): lines(p) for p in COMMANDS if lines(p) >= 150} == {}


def test_no_product_module_over_500_lines() -> None:
    assert {rel(p): lines(p) for p in PRODUCT if lines(p) > 500} == {}


def deferred_imports_without_reason(path: Path) -> list[str]:
    """Imports inside functions with no comment on their line or in the block of imports
    and comments right above them (one reason may cover a group)."""
    src = path.read_text(encoding="utf-8").splitlines()
    tree = ast.parse("\n".join(src))
    # `try: import x / except ImportError:` is the optional-dependency idiom: it says why.
    optional = {
        id(node)
        for t in ast.walk(tree)
        if isinstance(t, ast.Try) and any(_catches_import_error(h) for h in t.handlers)
        for stmt in t.body
        for node in ast.walk(stmt)
    }
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if (
                isinstance(node, ast.Import | ast.ImportFrom)
                and id(node) not in optional
                and not _explained(src, node)
            ):
                found.append(f"{rel(path)}:{node.lineno}: {src[node.lineno - 1].strip()}")
    return found


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(
        isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names
    )


def _explained(src: list[str], node: ast.Import | ast.ImportFrom) -> bool:
    end = node.end_lineno or node.lineno
    if any("#" in line for line in src[node.lineno - 1 : end]):
        return True
    i = node.lineno - 2
    while i >= 0 and src[i].strip().startswith(("#", "from ", "import ")):
        if "#" in src[i]:
            return True
        i -= 1
    return False


@pytest.mark.parametrize("path", PRODUCT + sorted(SANDBOX.rglob("*.py")), ids=rel)
def test_imports_inside_functions_say_why(path: Path) -> None:
    # Allowed: the CLI's lazy command table, optional dependencies, and start-up savings a
    # benchmark shows; each with a one-line comment.
    assert deferred_imports_without_reason(path) == []


def test_the_checker_finds_an_unexplained_deferred_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os\n\n\ndef f() -> None:\n    import json\n\n\nasync def g() -> None:\n"
        "    # optional: only with the audio extra\n    import wave\n    import zlib\n"
        "\n    import sys\n"
        "    from os import (  # deferred: start-up time\n        path,\n    )\n"
        "    try:\n        import numpy\n    except ImportError:\n        pass\n"
    )
    assert deferred_imports_without_reason(probe) == [
        "probe.py:5: import json",
        "probe.py:13: import sys",
    ]
