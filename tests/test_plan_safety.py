"""octoDNS-style thresholds: only past safety_min_resources, with the numbers named."""

from __future__ import annotations

import pytest

from sipctl.plan import UnsafePlan, make_plan, raise_if_unsafe
from tests.reconcile_helpers import API_SECRET, config, live, out_model, outbound_pb


def _state(n: int):  # type: ignore[no-untyped-def]
    return live(outbound=tuple(outbound_pb(f"t{i:02d}", f"ST_{i:02d}") for i in range(n)))


def _cfg(n: int, changed: int, dropped: int = 0, **settings: object):  # type: ignore[no-untyped-def]
    trunks = {}
    for i in range(dropped, n):
        address = "changed.example.com" if i < dropped + changed else "sip.example.com"
        trunks[f"t{i:02d}"] = out_model(address=address)
    return config(outbound=trunks, settings=dict(settings))


def test_below_the_minimum_anything_goes() -> None:
    plan = make_plan(_cfg(9, changed=9), _state(9), api_secret=API_SECRET)
    assert plan.safety.problems() == []


def test_too_many_updates_is_refused_with_numbers() -> None:
    plan = make_plan(_cfg(10, changed=4), _state(10), api_secret=API_SECRET)
    [problem] = plan.safety.problems()
    assert problem == (
        "refusing to update 4 of 10 managed resources (40% > settings.max_update_percent 30%); "
        "rerun with --force if this is intended"
    )
    with pytest.raises(UnsafePlan, match="4 of 10"):
        raise_if_unsafe(plan, force=False)
    raise_if_unsafe(plan, force=True)


def test_exactly_at_the_limit_is_allowed() -> None:
    plan = make_plan(_cfg(10, changed=3), _state(10), api_secret=API_SECRET)
    assert plan.safety.problems() == []


def test_too_many_deletes_and_settable_limits() -> None:
    plan = make_plan(
        _cfg(10, changed=0, dropped=4), _state(10), api_secret=API_SECRET, allow_delete=True
    )
    assert plan.count("delete") == 4
    [problem] = plan.safety.problems()
    assert (
        "refusing to delete 4 of 10 managed resources (40% > settings.max_delete_percent 30%)"
        in problem
    )
    relaxed = make_plan(
        _cfg(10, changed=0, dropped=4, max_delete_percent=50),
        _state(10),
        api_secret=API_SECRET,
        allow_delete=True,
    )
    assert relaxed.safety.problems() == []
    small = make_plan(
        _cfg(10, changed=0, dropped=4, safety_min_resources=20),
        _state(10),
        api_secret=API_SECRET,
        allow_delete=True,
    )
    assert small.safety.problems() == []


def test_orphans_kept_are_not_deletes() -> None:
    plan = make_plan(_cfg(10, changed=0, dropped=9), _state(10), api_secret=API_SECRET)
    assert plan.safety.problems() == [] and len(plan.orphaned) == 9
