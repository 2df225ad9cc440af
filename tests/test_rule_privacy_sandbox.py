"""Nothing of sipctl's reaches callers (#12 item 2): a dispatch rule's metadata and
attributes are exactly what the YAML declares; ownership is recorded on inbound trunks."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from livekit import api

from tests.fixtures.sandbox import Sandbox
from tests.reconcile_helpers import sipctl, write_config

CONFIG = """
inbound_trunks:
  office:
    numbers: ["+15550300001"]
dispatch_rules:
  support:
    rule: {direct: {room_name: support}}
    trunks: [office]
  catch-all:
    rule: {individual: {room_prefix: call}}
settings: {owner: prod, prune: true}
"""


def _apply(sb: Sandbox, cfg: Path) -> Any:
    return sipctl(sb, cfg, "apply", "--auto-approve", "--no-verify")


def _rules(sb: Sandbox) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in sb.state()["sip_dispatch_rules"]}


def _lk(sb: Sandbox, make: Any) -> Any:
    async def run() -> Any:
        lk = api.LiveKitAPI(sb.url, sb.api_key, sb.api_secret)
        try:
            return await make(lk)
        finally:
            await lk.aclose()

    return asyncio.run(run())


def test_rules_carry_nothing_of_sipctl_and_stay_managed(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c", CONFIG)
    assert _apply(sandbox, cfg).exit_code == 0
    rules = _rules(sandbox)
    for rule in rules.values():
        assert rule.get("metadata", "") == "" and not rule.get("attributes")
    [trunk] = sandbox.state()["sip_inbound_trunks"]
    ledger = json.loads(trunk["metadata"])["sipctl"]["r"]
    assert sorted(ledger) == sorted(r["sip_dispatch_rule_id"] for r in rules.values())
    again = sipctl(sandbox, cfg, "plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    # still managed: a rule that leaves the YAML is deleted (prune), the other kept
    write_config(
        tmp_path / "c",
        CONFIG.replace("  catch-all:\n    rule: {individual: {room_prefix: call}}\n", ""),
    )
    plan = sipctl(sandbox, cfg, "plan")
    assert "- delete dispatch_rule catch-all" in plan.stdout, plan.stdout
    assert _apply(sandbox, cfg).exit_code == 0
    assert sorted(_rules(sandbox)) == ["support"]


def test_declared_metadata_is_written_as_is_and_kept_byte_for_byte(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    text = '{ "team": "voice",  "tier": 1 }'

    async def make(lk: api.LiveKitAPI) -> Any:
        return await lk.sip.create_dispatch_rule(
            api.CreateSIPDispatchRuleRequest(
                dispatch_rule=api.SIPDispatchRuleInfo(
                    name="support",
                    metadata=text,
                    rule=api.SIPDispatchRule(
                        dispatch_rule_direct=api.SIPDispatchRuleDirect(room_name="support")
                    ),
                )
            )
        )

    _lk(sandbox, make)
    cfg = write_config(
        tmp_path / "c",
        """
        inbound_trunks:
          office: {numbers: ["+15550300001"]}
        dispatch_rules:
          support:
            rule: {direct: {room_name: support}}
            metadata: {team: voice, tier: 1}
        settings: {owner: prod}
        """,
    )
    assert _apply(sandbox, cfg).exit_code == 0  # adopts the rule
    assert _rules(sandbox)["support"]["metadata"] == text
    assert sipctl(sandbox, cfg, "plan", "--detailed-exitcode").exit_code == 0


def test_a_marker_left_in_a_rule_by_an_older_sipctl_is_cleaned(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    async def make(lk: api.LiveKitAPI) -> Any:
        return await lk.sip.create_dispatch_rule(
            api.CreateSIPDispatchRuleRequest(
                dispatch_rule=api.SIPDispatchRuleInfo(
                    name="support",
                    metadata='{"sipctl":{"v":1}}',
                    rule=api.SIPDispatchRule(
                        dispatch_rule_direct=api.SIPDispatchRuleDirect(room_name="support")
                    ),
                )
            )
        )

    _lk(sandbox, make)
    cfg = write_config(
        tmp_path / "c",
        """
        inbound_trunks:
          office: {numbers: ["+15550300001"]}
        dispatch_rules:
          support:
            rule: {direct: {room_name: support}}
        """,
    )
    plan = sipctl(sandbox, cfg, "plan")
    assert "~ update dispatch_rule support" in plan.stdout, plan.stdout
    assert "removes the ownership marker" in plan.stdout
    assert _apply(sandbox, cfg).exit_code == 0
    assert _rules(sandbox)["support"].get("metadata", "") == ""
    assert sipctl(sandbox, cfg, "plan", "--detailed-exitcode").exit_code == 0
