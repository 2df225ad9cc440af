"""The ownership marker beside the user's metadata: JSON keys or plain text."""

from __future__ import annotations

import pytest

from sipctl.errors import SipctlError
from sipctl.ownership import Marker, parse_metadata, render_metadata
from sipctl.plan import make_plan
from tests.reconcile_helpers import API_SECRET, OWNER, config, live, out_model, outbound_pb

MARK = Marker(auth_fingerprint="3f9a0c1d2e4b5a67")


def test_json_metadata_keeps_the_users_keys() -> None:
    text = render_metadata({"team": "voice"}, MARK)
    assert text == '{"sipctl":{"fp":"3f9a0c1d2e4b5a67","v":1},"team":"voice"}'
    parsed = parse_metadata(text)
    assert (parsed.user, parsed.marker) == ({"team": "voice"}, MARK)


def test_plain_text_metadata_gets_a_marker_line() -> None:
    text = render_metadata("owner: voice team\nticket 42", MARK)
    assert text == 'owner: voice team\nticket 42\n[sipctl] {"fp":"3f9a0c1d2e4b5a67","v":1}'
    parsed = parse_metadata(text)
    assert (parsed.user, parsed.marker) == ("owner: voice team\nticket 42", MARK)


@pytest.mark.parametrize("raw", ["plain", "[1, 2]", "42", "a\n[sipctl] not json"])
def test_foreign_metadata_is_unmanaged_text(raw: str) -> None:
    parsed = parse_metadata(raw)
    assert (parsed.user, parsed.marker) == (raw, None)


def test_empty_metadata() -> None:
    assert render_metadata({}, None) == ""
    assert render_metadata("", MARK) == '{"sipctl":{"fp":"3f9a0c1d2e4b5a67","v":1}}'
    assert parse_metadata("").user == {}


def test_text_metadata_round_trips_through_a_plan() -> None:
    cfg = config(outbound={"acme": out_model(metadata="owner=voice")})
    trunk = outbound_pb("acme")
    trunk.metadata = render_metadata("owner=voice", Marker(owner=OWNER))
    assert make_plan(cfg, live(outbound=(trunk,)), api_secret=API_SECRET).changes == []


def test_adopting_text_metadata_keeps_it() -> None:
    cfg = config(outbound={"acme": out_model(metadata="legacy text")})
    trunk = outbound_pb("acme", managed=False)
    trunk.metadata = "legacy text"
    (change,) = make_plan(cfg, live(outbound=(trunk,)), api_secret=API_SECRET).changes
    assert (change.action, change.fields) == ("adopt", [])


def test_a_marker_line_in_the_config_is_refused() -> None:
    cfg = config(outbound={"acme": out_model(metadata='x\n[sipctl] {"v":1}')})
    with pytest.raises(SipctlError, match="reserved for sipctl's ownership marker"):
        make_plan(cfg, live(), api_secret=API_SECRET)
