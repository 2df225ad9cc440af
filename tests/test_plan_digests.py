"""Saved-plan digests: what changed since the plan was made, named."""

from __future__ import annotations

from sipctl.plan import make_plan
from sipctl.saved_plan import compute_digests, live_names, stale_reasons
from tests.reconcile_helpers import API_SECRET, config, live, out_model, outbound_pb


def _digests(cfg, state):  # type: ignore[no-untyped-def]
    plan = make_plan(cfg, state, api_secret=API_SECRET)
    compute_digests(plan, cfg, state, API_SECRET)
    assert plan.digests is not None
    return plan.digests


def test_unchanged_inputs_same_digests() -> None:
    cfg = config(outbound={"a": out_model()})
    state = live(outbound=(outbound_pb("a", "ST_a"),))
    assert _digests(cfg, state) == _digests(cfg, state)
    assert stale_reasons(_digests(cfg, state), _digests(cfg, state)) == []


def test_live_and_config_changes_are_named() -> None:
    cfg = config(outbound={"a": out_model()})
    state = live(outbound=(outbound_pb("a", "ST_a"),))
    before = _digests(cfg, state)
    state2 = live(
        outbound=(outbound_pb("a", "ST_a", address="x.example.com"), outbound_pb("b", "ST_b"))
    )
    cfg2 = config(outbound={"a": out_model(numbers=["+15550100009"])})
    reasons = stale_reasons(before, _digests(cfg2, state2), live_names(state2))
    assert reasons == [
        "outbound trunk 'a' (ST_a) changed in the config",  # named by name and ID
        "outbound trunk 'a' (ST_a) changed in LiveKit",
        "outbound trunk 'b' (ST_b) was added to LiveKit",
    ]


def test_a_rotated_secret_makes_the_plan_stale() -> None:
    def cfg(pw: str):  # type: ignore[no-untyped-def]
        return config(outbound={"a": out_model(auth={"username": "u", "password": pw})})

    state = live()
    assert stale_reasons(_digests(cfg("one-pass"), state), _digests(cfg("two-pass"), state)) == [
        "outbound trunk 'a' changed in the config"
    ]


def test_digests_do_not_contain_secrets() -> None:
    cfg = config(outbound={"a": out_model(auth={"username": "u", "password": "pw-abcdef"})})
    state = live(outbound=(outbound_pb("a", "ST_a", username="u", password="pw-abcdef"),))
    text = repr(_digests(cfg, state))
    assert "pw-abcdef" not in text
