"""A bench's stdout is ``name: value unit`` lines and nothing else: scripts (and the
issue's acceptance) read ``plan_vs_floor_1000: <ratio> x``; targets and remarks go to
stderr and into the JSON."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from bench.common import Figures

LINE = re.compile(r"^[a-z0-9_]+: -?[0-9]+\.[0-9]{3} \S+(?: \S+)*$")


def test_figures_print_name_value_unit_and_notes_apart(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    figures = Figures()
    figures.add("plan_vs_floor_1000", 1.4321, "x", note="target <= 1.5")
    figures.add("plan_10000_peak_rss", 140.25, "MB", note="target < 200")
    figures.add("seed_1000_trunks_seconds", 3.5, "s")
    out = tmp_path / "plan.json"
    figures.emit(out)
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "plan_vs_floor_1000: 1.432 x",
        "plan_10000_peak_rss: 140.250 MB",
        "seed_1000_trunks_seconds: 3.500 s",
    ]
    assert "target <= 1.5" in captured.err and "target < 200" in captured.err
    data = json.loads(out.read_text())
    assert data["plan_vs_floor_1000"] == {"value": 1.4321, "unit": "x", "note": "target <= 1.5"}
    assert data["seed_1000_trunks_seconds"] == {"value": 3.5, "unit": "s"}


def test_no_bench_writes_a_remark_into_a_unit() -> None:
    """Units are bare literals (``x``, ``MB``, ``s``, ``req/s``): a target or a remark
    belongs in ``note=``."""
    for path in sorted(Path(__file__).resolve().parents[1].joinpath("bench").glob("bench_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "figures"
            ):
                continue
            unit = node.args[2]
            where = f"{path.name}:{node.lineno}"
            assert isinstance(unit, ast.Constant | ast.JoinedStr), f"{where}: unit is computed"
            text = ast.unparse(unit)
            assert "(" not in text and "note" not in text, f"{where}: unit {text}"
