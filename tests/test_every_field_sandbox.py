"""Every field LiveKit has (#12 item 4): dispatch rule room_config (agent dispatch) and
inbound ringing_timeout_status, declared, diffed, imported and applied."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.fixtures.sandbox import Sandbox
from tests.reconcile_helpers import sipctl, write_config

CONFIG = """
inbound_trunks:
  office:
    numbers: ["+15550500001"]
    ringing_timeout: 20s
    ringing_timeout_status: 486
dispatch_rules:
  support:
    rule: {direct: {room_name: support}}
    trunks: [office]
    room_config:
      agents:
        - {agent_name: receptionist, metadata: '{"lang": "en"}'}
      max_participants: 3
      empty_timeout: 5m
      min_playout_delay: 100ms
settings: {owner: prod}
"""


def test_room_config_and_ringing_timeout_status(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c", CONFIG)
    res = sipctl(sandbox, cfg, "apply", "--auto-approve", "--no-verify", "--format", "json")
    assert res.exit_code == 0, res.output
    assert all(c["status"] == "applied" for c in json.loads(res.stdout)["changes"])
    [rule] = sandbox.state()["sip_dispatch_rules"]
    assert rule["room_config"]["agents"][0]["agent_name"] == "receptionist"
    again = sipctl(sandbox, cfg, "plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    # a change of the agent is a replace that keeps the ID
    write_config(tmp_path / "c", CONFIG.replace("receptionist", "sales"))
    plan = sipctl(sandbox, cfg, "plan")
    assert "room_config.agents" in plan.stdout and "replace" in plan.stdout
    assert sipctl(sandbox, cfg, "apply", "--auto-approve", "--no-verify").exit_code == 0
    [after] = sandbox.state()["sip_dispatch_rules"]
    assert after["sip_dispatch_rule_id"] == rule["sip_dispatch_rule_id"]
    assert after["room_config"]["agents"][0]["agent_name"] == "sales"
    # import writes both fields
    imported = yaml.safe_load(sipctl(sandbox, cfg, "import").stdout)
    assert imported["dispatch_rules"]["support"]["room_config"]["agents"] == [
        {"agent_name": "sales", "metadata": '{"lang": "en"}'}
    ]
    assert imported["inbound_trunks"]["office"]["ringing_timeout_status"] == 486
