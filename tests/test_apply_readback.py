"""Apply means applied (#12 item 5): after a write, apply reads the resource back and
compares it with the plan's intent; a difference is a failure naming the field."""

from __future__ import annotations

import json
from pathlib import Path

from sipctl.diff import inconsistencies
from sipctl.fields import Kind
from sipctl.live import LiveResource
from sipctl.models import Encryption, Media, OutboundTrunk
from sipctl.plan_result import Change
from tests.fixtures.sandbox import Sandbox
from tests.reconcile_helpers import sipctl, write_config

ENCRYPTED = """
    outbound_trunks:
      acme:
        address: sip.acme.example
        numbers: ["+15550100001"]
        media: {encryption: require}
"""
PLAIN = """
    outbound_trunks:
      acme:
        address: sip.acme.example
        numbers: ["+15550100001"]
"""


def _apply(sb: Sandbox, cfg: Path, *extra: str) -> object:
    return sipctl(sb, cfg, "apply", "--auto-approve", "--no-verify", *extra)


def test_removing_media_encryption_really_removes_it(sandbox: Sandbox, tmp_path: Path) -> None:
    # LiveKit's update keeps the deprecated media_encryption and Upgrade() copies it back
    # into an unset media.encryption (livekit/protocol livekit/sip.go updateMediaConfig)
    cfg = write_config(tmp_path / "c", ENCRYPTED)
    assert _apply(sandbox, cfg).exit_code == 0  # type: ignore[attr-defined]
    write_config(tmp_path / "c", PLAIN)
    res = _apply(sandbox, cfg, "--format", "json")
    doc = json.loads(res.stdout)  # type: ignore[attr-defined]
    assert [c["status"] for c in doc["changes"]] == ["applied"], doc["changes"]
    again = sipctl(sandbox, cfg, "plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines()[-1] == "No changes. LiveKit matches the configuration."


def _change(model: OutboundTrunk) -> Change:
    kind: Kind = "outbound_trunk"
    return Change("update", kind, "acme", "ST_1", "update", [], model)


def _live(model: OutboundTrunk) -> LiveResource:
    from sipctl.ownership import Marker

    return LiveResource("outbound_trunk", "ST_1", "acme", model, Marker())


def test_a_field_the_server_did_not_take_is_named_with_both_values() -> None:
    want = OutboundTrunk(address="a.example", numbers=["+15550100001"])
    held = want.model_copy(update={"media": Media(encryption=Encryption.require)})
    problems = inconsistencies(_change(want), _live(held))
    assert problems == ['media.encryption: planned "disable", LiveKit holds "require"']
    assert inconsistencies(_change(want), _live(want)) == []


def test_a_lost_marker_is_inconsistent() -> None:
    want = OutboundTrunk(address="a.example", numbers=["+15550100001"])
    lost = LiveResource("outbound_trunk", "ST_1", "acme", want, None)
    assert inconsistencies(_change(want), lost) == ["sipctl's ownership marker is missing"]
