"""The plan's text, JSON and Markdown forms."""

from __future__ import annotations

import json

from sipctl.livekit.connection import Connection
from sipctl.plan import make_plan
from sipctl.render import plan_json, plan_markdown, plan_text
from sipctl.saved_plan import compute_digests, header
from tests.reconcile_helpers import (
    API_SECRET,
    config,
    in_model,
    inbound_pb,
    live,
    out_model,
    outbound_pb,
)


def _mixed():  # type: ignore[no-untyped-def]
    cfg = config(
        outbound={
            "new": out_model(auth={"username": "u", "password": "pw-123456"}),
            "moved": out_model(address="b.example.com", headers={"X-A": "1"}),
        },
        inbound={"office": in_model(ringing_timeout="30s")},
    )
    state = live(
        outbound=(
            outbound_pb("moved", "ST_m", address="a.example.com"),
            outbound_pb("gone", "ST_g"),
            outbound_pb("manual", "ST_u", managed=False),
        ),
        inbound=(inbound_pb("office", "ST_o", managed=False),),
    )
    plan = make_plan(cfg, state, api_secret=API_SECRET, allow_delete=True)
    compute_digests(plan, cfg, state, API_SECRET)
    return plan


def test_text_blocks_and_summary() -> None:
    text = plan_text.render(_mixed())
    lines = text.splitlines()
    assert "  + create outbound_trunk new" in lines
    assert "      auth.password: (sensitive value)" in lines
    assert "  ~ update outbound_trunk moved (ST_m)" in lines
    assert "      address: a.example.com -> b.example.com" in lines
    assert "      headers.X-A: (none) -> 1" in lines
    assert "  - delete outbound_trunk gone (ST_g)" in lines
    assert "  ~ adopt inbound_trunk office (ST_o)" in lines
    assert "      ringing_timeout: (none) -> 30s" in lines
    assert "  outbound_trunk manual (ST_u)" in lines
    assert lines[-1] == "Plan: 1 to create, 2 to update, 1 to delete."
    assert "\x1b[" not in text
    assert "\x1b[" in plan_text.render(_mixed(), color=True)


def test_no_changes_text() -> None:
    plan = make_plan(config(), live(), api_secret=API_SECRET)
    assert plan_text.render(plan) == "No changes. LiveKit matches the configuration.\n"


def test_json_is_versioned_ordered_and_round_trips() -> None:
    doc = json.loads(plan_json.render(_mixed(), header(Connection("http://lk", "key", "s"), "")))
    assert list(doc) == [
        "format_version",
        "kind",
        "sipctl_version",
        "livekit_url",
        "api_key",
        "config_dir",
        "options",
        "owner",
        "summary",
        "changes",
        "orphaned",
        "unmanaged",
        "other_owners",
        "unowned",
        "safety",
        "warnings",
        "checksum",
        "digests",
    ]
    assert doc["format_version"] == 1 and doc["kind"] == "sipctl-plan"
    assert doc["summary"] == {
        "create": 1,
        "update": 1,
        "delete": 1,
        "adopt": 1,
        "orphaned": 0,
        "has_changes": True,
        "text": "Plan: 1 to create, 2 to update, 1 to delete.",
    }
    update = next(c for c in doc["changes"] if c["action"] == "update")
    assert list(update) == [
        "action",
        "kind",
        "name",
        "id",
        "method",
        "renamed_from",
        "fields",
        "note",
    ]
    assert update["method"] == "replace"
    assert {
        "path": "address",
        "before": "a.example.com",
        "after": "b.example.com",
        "sensitive": False,
    } in update["fields"]
    assert doc["checksum"].startswith("sha256:")
    assert doc["unmanaged"] == [{"kind": "outbound_trunk", "name": "manual", "id": "ST_u"}]
    # stable: the same plan renders byte for byte the same
    assert plan_json.render(_mixed(), {}) == plan_json.render(_mixed(), {})


def test_markdown_for_a_pull_request() -> None:
    md = plan_markdown.render(_mixed())
    assert md.startswith("### sipctl plan\n")
    assert "**Plan: 1 to create, 2 to update, 1 to delete.**" in md
    assert "| ➕ create | outbound_trunk `new` |" in md
    assert "```diff" in md and "- delete outbound_trunk gone (ST_g)" in md
    assert "pw-123456" not in md
