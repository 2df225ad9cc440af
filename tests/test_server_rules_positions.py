"""The server-rule checks run on every validate and plan: they must not ask for the YAML
positions of resources that conflict with nothing (computing positions re-reads the whole
file with the slow located reader: a 10,000-trunk plan spent 2 s there)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipctl.config.loader import load_config
from sipctl.config.model import DeclaredAt
from sipctl.server_rules import declared_conflicts

TRUNKS = """
inbound_trunks:
  main:
    numbers: ["+15550100001"]
  other:
    numbers: ["+15550100002"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    d = tmp_path / "config"
    d.mkdir()
    (d / "in.yaml").write_text(text)
    return d


def test_no_position_is_looked_up_without_a_conflict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(_write(tmp_path, TRUNKS))
    asked: list[object] = []
    original = DeclaredAt.__getitem__

    def counting(self: DeclaredAt, key: tuple[str, str]) -> str:
        asked.append(key)
        return original(self, key)

    monkeypatch.setattr(DeclaredAt, "__getitem__", counting)
    assert declared_conflicts(config) == []
    assert asked == []


def test_a_conflict_still_names_both_places(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, TRUNKS.replace("+15550100002", "+15550100001")))
    (conflict,) = declared_conflicts(config)
    assert "in.yaml:3" in conflict.message and "in.yaml:5" in conflict.message
