"""Passwords: compared by value when LiveKit returns them, by the marker's fingerprint when
it does not, and never shown in any rendering."""

from __future__ import annotations

import json

from sipctl.plan import make_plan
from sipctl.plan_result import Plan
from sipctl.render import plan_json, plan_markdown, plan_text
from sipctl.saved_plan import compute_digests
from sipctl.secrets import fingerprint
from tests.reconcile_helpers import API_SECRET, PASSWORD, config, live, out_model, outbound_pb

ROTATED = "n3w-r0tated-Pa55-qq"


def _plan(
    password: str, *, live_password: str = PASSWORD, masked: bool = False, managed: bool = True
) -> Plan:
    cfg = config(outbound={"acme": out_model(auth={"username": "u", "password": password})})
    trunk = outbound_pb(
        "acme", "ST_1", username="u", password=live_password, masked=masked, managed=managed
    )
    state = live(outbound=(trunk,))
    plan = make_plan(cfg, state, api_secret=API_SECRET)
    compute_digests(plan, cfg, state, API_SECRET)
    return plan


def test_same_password_no_change_whether_returned_or_masked() -> None:
    assert _plan(PASSWORD).changes == []
    assert _plan(PASSWORD, masked=True).changes == []


def test_rotated_password_is_a_change_returned_or_masked() -> None:
    for masked in (False, True):
        [c] = _plan(ROTATED, masked=masked).changes
        [f] = c.fields
        assert (f.path, f.sensitive) == ("auth.password", True)
        assert f.old == f.new == "(sensitive value)"
        assert f.old_fingerprint == fingerprint(PASSWORD, API_SECRET)
        assert f.new_fingerprint == fingerprint(ROTATED, API_SECRET)
        assert c.method == "update"


def test_password_changed_out_of_band_is_seen_when_returned() -> None:
    # the marker still holds the old fingerprint, but the server tells the truth
    [c] = _plan(PASSWORD, live_password="changed-by-hand").changes
    assert [f.path for f in c.fields] == ["auth.password"]


def test_same_config_same_plan_on_every_runner() -> None:
    a, b = _plan(ROTATED, masked=True), _plan(ROTATED, masked=True)
    assert plan_json.document(a, {}) == plan_json.document(b, {})


def test_masked_adopt_cannot_compare_and_pushes_the_password() -> None:
    [c] = _plan(PASSWORD, masked=True, managed=False).changes
    assert (c.action, c.fields, c.push_password) == ("adopt", [], True)
    assert "adopt sets it" in c.note


def test_removed_password_is_a_change() -> None:
    cfg = config(outbound={"acme": out_model(auth={"username": "u"})})
    state = live(outbound=(outbound_pb("acme", username="u", password=PASSWORD, masked=True),))
    [c] = make_plan(cfg, state, api_secret=API_SECRET).changes
    [f] = c.fields
    assert (f.path, f.old, f.new) == ("auth.password", "(sensitive value)", None)


def test_no_rendering_contains_a_password() -> None:
    for plan in (_plan(ROTATED), _plan(ROTATED, masked=True)):
        texts = [
            plan_text.render(plan),
            plan_text.render(plan, color=True),
            plan_markdown.render(plan),
            plan_json.render(plan, {"livekit_url": "http://x", "api_key": "k"}),
            repr(plan),
        ]
        for text in texts:
            assert PASSWORD not in text and ROTATED not in text
            assert API_SECRET not in text
        assert "auth.password: (sensitive value) -> (sensitive value)" in texts[0]
        doc = json.loads(texts[3])
        [field] = doc["changes"][0]["fields"]
        assert field["before"] == "(sensitive value)" and field["sensitive"] is True
