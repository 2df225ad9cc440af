"""Stable IDs across renames, and IDs for the apps (#12 item 3)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.fixtures.sandbox import Sandbox
from tests.reconcile_helpers import sipctl, write_config

BEFORE = """
outbound_trunks:
  acme-us:
    address: sip.acme.example
    numbers: ["+15550400001"]
inbound_trunks:
  office:
    numbers: ["+15550400002"]
dispatch_rules:
  support:
    rule: {direct: {room_name: support}}
    trunks: [office]
settings: {owner: prod, prune: true}
"""
AFTER = """
outbound_trunks:
  acme.us-east:
    renamed_from: [acme-us, long-gone]
    address: sip.acme.example
    numbers: ["+15550400001"]
inbound_trunks:
  front-desk:
    renamed_from: [office]
    numbers: ["+15550400002"]
dispatch_rules:
  support:
    rule: {direct: {room_name: support}}
    trunks: [front-desk]
settings: {owner: prod, prune: true}
"""


def _apply(sb: Sandbox, cfg: Path) -> Any:
    return sipctl(sb, cfg, "apply", "--auto-approve", "--no-verify")


def _ids(sb: Sandbox) -> dict[str, str]:
    state = sb.state()
    return {
        t["name"]: t.get("sip_trunk_id") or t.get("sip_dispatch_rule_id")
        for key in ("sip_outbound_trunks", "sip_inbound_trunks", "sip_dispatch_rules")
        for t in state[key]
    }


def test_a_renamed_trunk_keeps_its_id_and_its_rules(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c", BEFORE)
    assert _apply(sandbox, cfg).exit_code == 0
    before = _ids(sandbox)
    write_config(tmp_path / "c", AFTER)
    plan = sipctl(sandbox, cfg, "plan")
    assert plan.exit_code == 0, plan.output
    out = plan.stdout
    assert f"~ rename outbound_trunk acme-us -> acme.us-east ({before['acme-us']})" in out
    assert f"~ rename inbound_trunk office -> front-desk ({before['office']})" in out
    assert "- delete" not in out and "+ create" not in out
    assert out.splitlines()[-1] == "Plan: 0 to create, 2 to update, 0 to delete."
    res = _apply(sandbox, cfg)
    assert res.exit_code == 0, res.output
    after = _ids(sandbox)
    assert after["acme.us-east"] == before["acme-us"]
    assert after["front-desk"] == before["office"]
    rule = sandbox.state()["sip_dispatch_rules"][0]
    assert rule["trunk_ids"] == [before["office"]]
    # renamed_from names that no longer exist are ignored: no change, no warning
    again = sipctl(sandbox, cfg, "plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "Warning" not in again.stdout

    env = sipctl(sandbox, cfg, "output")
    assert env.exit_code == 0, env.output
    assert env.stdout.splitlines() == sorted(
        [
            f"SIPCTL_DISPATCH_RULE_SUPPORT={after['support']}",
            f"SIPCTL_INBOUND_TRUNK_FRONT_DESK={after['front-desk']}",
            f"SIPCTL_OUTBOUND_TRUNK_ACME_US_EAST={after['acme.us-east']}",
        ]
    )
    as_json = json.loads(sipctl(sandbox, cfg, "output", "--format", "json").stdout)
    assert as_json["outbound_trunks"] == {"acme.us-east": after["acme.us-east"]}
    as_yaml = yaml.safe_load(sipctl(sandbox, cfg, "output", "--format", "yaml").stdout)
    assert as_yaml == as_json


def test_a_likely_rename_is_pointed_out(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c", BEFORE)
    assert _apply(sandbox, cfg).exit_code == 0
    write_config(tmp_path / "c", BEFORE.replace("acme-us:", "acme-east:"))
    plan = sipctl(sandbox, cfg, "plan")
    assert "looks like a rename of outbound trunk 'acme-us'" in plan.stdout
    assert "renamed_from: [acme-us]" in plan.stdout


def test_two_keys_giving_one_variable_name_is_an_error(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path / "c",
        """
        outbound_trunks:
          a-b: {address: sip.example.com, numbers: ["+15550400011"]}
          a.b: {address: sip.example.com, numbers: ["+15550400012"]}
        settings: {owner: prod}
        """,
    )
    assert _apply(sandbox, cfg).exit_code == 0
    res = sipctl(sandbox, cfg, "output")
    assert res.exit_code == 1 and "SIPCTL_OUTBOUND_TRUNK_A_B" in res.stderr
