"""Selection by names, tags and trunks; --shard; exit codes; output pairing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sipctl.check import (
    SelectionError,
    parse_listen,
    parse_shard,
    select_calls,
    shard_calls,
    shard_of,
)
from sipctl.models import TestCall
from sipctl.render.check_outputs import Output, plan_outputs
from sipctl.results import DialResult, Verdict, exit_code


def tc(trunk: str = "a", tags: list[str] | None = None) -> TestCall:
    return TestCall.model_validate({"trunk": trunk, "to": "+15550100001", "tags": tags or []})


CALLS: dict[str, TestCall] = {
    "one": tc("a", ["smoke"]),
    "two": tc("b", ["smoke", "busy"]),
    "three": tc("a", ["nightly"]),
}


def names(sel: list[tuple[str, Any]]) -> list[str]:
    return [n for n, _ in sel]


def test_everything_in_config_order_by_default() -> None:
    assert names(select_calls(CALLS)) == ["one", "two", "three"]


def test_names_tags_and_trunks_narrow_together() -> None:
    assert names(select_calls(CALLS, tags=["smoke"])) == ["one", "two"]
    assert names(select_calls(CALLS, tags=["smoke"], trunks=["a"])) == ["one"]
    assert names(select_calls(CALLS, ["three", "two"])) == ["two", "three"]
    assert names(select_calls(CALLS, ["three"], tags=["smoke"])) == []


def test_repeated_tags_widen() -> None:
    assert names(select_calls(CALLS, tags=["busy", "nightly"])) == ["two", "three"]


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(SelectionError, match="'thre' \\(did you mean 'three'\\?\\)"):
        select_calls(CALLS, ["thre"])


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "a/b", "1", "1-2", ""])
def test_bad_shards_are_refused(text: str) -> None:
    with pytest.raises(SelectionError):
        parse_shard(text)


def test_shards_are_disjoint_complete_and_stable() -> None:
    calls = [(f"call-{i}", i) for i in range(200)]
    parts = [shard_calls(calls, k, 4) for k in range(1, 5)]
    seen = [name for part in parts for name, _ in part]
    assert sorted(seen) == sorted(n for n, _ in calls)
    assert len(seen) == len(set(seen))
    assert all(20 < len(p) < 80 for p in parts)  # a hash spreads them
    # the shard of a call depends on its name only, not on order or the other calls
    assert shard_calls(list(reversed(calls)), 2, 4) == list(reversed(parts[1]))
    assert shard_of("call-7", 4) == shard_of("call-7", 4)
    assert shard_calls(calls, 1, 1) == calls


def result(verdict: Verdict) -> DialResult:
    return DialResult(name="x", trunk="a", to="+1", expect="answered", verdict=verdict, cause="")


@pytest.mark.parametrize(
    ("verdicts", "code"),
    [
        ([], 0),
        ([Verdict.PASS, Verdict.DEGRADED], 0),
        ([Verdict.PASS, Verdict.ERROR], 1),
        ([Verdict.ERROR, Verdict.FAIL], 3),
        ([Verdict.FAIL], 3),
    ],
)
def test_exit_codes(verdicts: list[Verdict], code: int) -> None:
    assert exit_code(result(v) for v in verdicts) == code


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_listen(":9464") == ("0.0.0.0", 9464)
    assert parse_listen("[::1]:9464") == ("::1", 9464)
    with pytest.raises(SelectionError):
        parse_listen("9464x")


def test_format_output_pairs() -> None:
    assert plan_outputs([], []) == [Output("text", None)]
    assert plan_outputs(["junit", "json"], [Path("r.xml")]) == [
        Output("junit", Path("r.xml")),
        Output("json", None),
    ]
    assert plan_outputs([], [Path("m.prom")]) == [Output("prometheus", Path("m.prom"))]
    with pytest.raises(Exception, match="one --format can go to stdout"):
        plan_outputs(["json", "text"], [])
    with pytest.raises(Exception, match="not one of"):
        plan_outputs(["yaml"], [])
    with pytest.raises(Exception, match="add a --format"):
        plan_outputs([], [Path("report")])
