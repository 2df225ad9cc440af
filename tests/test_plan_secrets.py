"""Passwords: compared by value when LiveKit returns them, by the marker's fingerprint when
it does not, and never shown in any rendering."""

from __future__ import annotations

import json

from sipctl.ownership import Marker, render_metadata
from sipctl.plan import make_plan
from sipctl.plan_result import Plan
from sipctl.render import plan_json, plan_markdown, plan_text
from sipctl.saved_plan import compute_digests
from sipctl.secrets import fingerprint, legacy_fingerprint, salt_for
from tests.reconcile_helpers import (
    API_SECRET,
    OWNER,
    PASSWORD,
    SALT,
    config,
    live,
    out_model,
    outbound_pb,
)

ROTATED = "n3w-r0tated-Pa55-qq"


ROTATED_KEY = "rotated-api-secret-0123456789abcdef0123"


def _plan(
    password: str,
    *,
    live_password: str = PASSWORD,
    masked: bool = False,
    managed: bool = True,
    recorded: str | None = None,
    api_secret: str = API_SECRET,
) -> Plan:
    cfg = config(outbound={"acme": out_model(auth={"username": "u", "password": password})})
    trunk = outbound_pb(
        "acme", "ST_1", username="u", password=live_password, masked=masked, managed=managed
    )
    if recorded is not None:  # the marker holds this fingerprint instead
        trunk.metadata = render_metadata({}, Marker(auth_fingerprint=recorded, owner=OWNER))
    state = live(outbound=(trunk,))
    plan = make_plan(cfg, state, api_secret=api_secret)
    compute_digests(plan, cfg, state, api_secret)
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
        # the marker's own format and salt: before is what it holds, after what it will
        assert f.old_fingerprint == fingerprint(PASSWORD, SALT)
        assert f.new_fingerprint == fingerprint(ROTATED, SALT)
        assert c.method == "update" and c.note == ""


def test_another_api_key_pair_sees_the_same_password_as_unchanged() -> None:
    # a rotated key pair, or a CI runner with its own: the salted fingerprint has no key
    assert _plan(PASSWORD, masked=True, api_secret=ROTATED_KEY).changes == []
    [c] = _plan(ROTATED, masked=True, api_secret=ROTATED_KEY).changes
    assert [f.path for f in c.fields] == ["auth.password"]


def test_plan_fingerprints_do_not_depend_on_the_api_key() -> None:
    a = plan_json.document(_plan(ROTATED, masked=True), {})
    b = plan_json.document(_plan(ROTATED, masked=True, api_secret=ROTATED_KEY), {})
    assert a["changes"] == b["changes"]


def test_legacy_marker_matching_the_current_key_is_unchanged() -> None:
    old = legacy_fingerprint(PASSWORD, API_SECRET)
    assert _plan(PASSWORD, masked=True, recorded=old).changes == []
    # a rotated password is still seen against an old marker
    [c] = _plan(ROTATED, masked=True, recorded=old).changes
    [f] = c.fields
    assert f.old_fingerprint == old
    # the write records the new format, salted from the resource's ID
    assert f.new_fingerprint == fingerprint(ROTATED, salt_for(None, "ST_1"))


def test_legacy_marker_of_another_key_cannot_be_judged_and_says_so() -> None:
    old = legacy_fingerprint(PASSWORD, "the-api-secret-before-rotation-0123456")
    [c] = _plan(PASSWORD, masked=True, recorded=old).changes
    [f] = c.fields
    assert (f.path, f.old, f.new) == ("auth.password", "(sensitive value)", "(sensitive value)")
    assert "recorded by an older sipctl, keyed with the API secret" in c.note
    assert "apply sets the password again" in c.note
    assert c.method == "update"


def test_unknown_fingerprint_scheme_cannot_be_judged() -> None:
    [c] = _plan(PASSWORD, masked=True, recorded="s9.future.scheme").changes
    assert [f.path for f in c.fields] == ["auth.password"] and c.note


def test_saved_plan_digests_hold_no_cheap_password_check() -> None:
    # a masking server: the password enters the digests as the marker's salted
    # fingerprint, never as an HMAC a key holder could test guesses against cheaply
    plan = _plan(ROTATED, masked=True)
    assert plan.digests is not None
    import sipctl.saved_plan as sp

    def digest(password_digest: str) -> str:
        data = {"c": _canonical_acme(ROTATED), "p": password_digest}
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
        return sp._mac(API_SECRET, text.encode())

    cheap = digest(legacy_fingerprint(ROTATED, API_SECRET))
    assert plan.digests["config"]["outbound_trunk/acme"] != cheap
    assert plan.digests["config"]["outbound_trunk/acme"] == digest(fingerprint(ROTATED, SALT))


def _canonical_acme(password: str) -> object:
    from sipctl.canonical import canonical

    cfg = config(outbound={"acme": out_model(auth={"username": "u", "password": password})})
    return canonical("outbound_trunk", cfg.outbound_trunks["acme"])


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
