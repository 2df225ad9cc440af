"""LiveKit's own rules, offline, before any write (#12 item 6)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from livekit import api

from sipctl.cli import cli
from tests.fixtures.sandbox import Sandbox
from tests.reconcile_helpers import sipctl, write_config

SHARED = """
inbound_trunks:
  a: {numbers: ["+15550800001"]}
  b: {numbers: ["+1 555 080 0001"]}
settings: {owner: prod}
"""


def test_inbound_trunks_sharing_a_number_are_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c", SHARED.replace('"+1 555 080 0001"', '"+15550800001"'))
    res = CliRunner().invoke(cli, ["validate", "--config", str(cfg)])
    assert res.exit_code == 1
    assert "inbound trunk 'a' (" in res.stderr and "inbound trunk 'b' (" in res.stderr
    assert "sip.yaml:" in res.stderr
    plan = sipctl(sandbox, cfg, "plan")
    assert plan.exit_code == 1 and "LiveKit would refuse this plan" in plan.stderr
    applied = sipctl(sandbox, cfg, "apply", "--auto-approve", "--no-verify")
    assert applied.exit_code == 1
    assert sandbox.state()["sip_inbound_trunks"] == []  # nothing was written


def test_a_clash_with_a_hand_made_rule_is_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    async def make(lk: api.LiveKitAPI) -> Any:
        return await lk.sip.create_dispatch_rule(
            api.CreateSIPDispatchRuleRequest(
                dispatch_rule=api.SIPDispatchRuleInfo(
                    name="by-hand",
                    rule=api.SIPDispatchRule(
                        dispatch_rule_direct=api.SIPDispatchRuleDirect(room_name="x")
                    ),
                )
            )
        )

    async def run() -> Any:
        lk = api.LiveKitAPI(sandbox.url, sandbox.api_key, sandbox.api_secret)
        try:
            return await make(lk)
        finally:
            await lk.aclose()

    made = asyncio.run(run())
    cfg = write_config(
        tmp_path / "c",
        """
        inbound_trunks:
          office: {numbers: ["+15550800002"]}
        dispatch_rules:
          catch-all: {rule: {direct: {room_name: y}}}
        settings: {owner: prod}
        """,
    )
    plan = sipctl(sandbox, cfg, "plan")
    assert plan.exit_code == 1
    assert f"dispatch rule 'by-hand' ({made.sip_dispatch_rule_id})" in plan.stderr
    assert "dispatch rule 'catch-all' (" in plan.stderr


def test_a_forbidden_header_is_a_config_error(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path / "c",
        """
        outbound_trunks:
          acme:
            address: sip.example.com
            numbers: ["+15550800003"]
            headers: {Call-ID: x, Via: y}
        """,
    )
    res = CliRunner().invoke(cli, ["validate", "--config", str(cfg)])
    assert res.exit_code == 1
    assert "LiveKit refuses to set the SIP header 'Call-ID'" in res.stderr
    write_config(
        tmp_path / "c",
        """
        outbound_trunks:
          acme:
            address: sip.example.com
            numbers: ["+15550800003"]
            headers: {Via: y}
        """,
    )
    warned = CliRunner().invoke(cli, ["validate", "--config", str(cfg)])
    assert warned.exit_code == 0 and "deprecates setting the SIP header 'Via'" in warned.stderr


def test_deleting_a_trunk_a_rule_still_names_is_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    both = """
        inbound_trunks:
          office: {numbers: ["+15550800004"]}
          spare: {numbers: ["+15550800005"]}
        settings: {owner: prod, prune: true}
        """
    cfg = write_config(tmp_path / "c", both)
    assert sipctl(sandbox, cfg, "apply", "--auto-approve", "--no-verify").exit_code == 0
    spare = next(t for t in sandbox.state()["sip_inbound_trunks"] if t["name"] == "spare")

    async def run() -> Any:
        lk = api.LiveKitAPI(sandbox.url, sandbox.api_key, sandbox.api_secret)
        try:
            return await lk.sip.create_dispatch_rule(
                api.CreateSIPDispatchRuleRequest(
                    dispatch_rule=api.SIPDispatchRuleInfo(
                        name="by-hand",
                        trunk_ids=[spare["sip_trunk_id"]],
                        rule=api.SIPDispatchRule(
                            dispatch_rule_direct=api.SIPDispatchRuleDirect(room_name="s")
                        ),
                    )
                )
            )
        finally:
            await lk.aclose()

    asyncio.run(run())
    write_config(tmp_path / "c", both.replace('spare: {numbers: ["+15550800005"]}', ""))
    res = sipctl(sandbox, cfg, "plan")
    assert res.exit_code == 1
    assert "deleting inbound trunk 'spare'" in res.stderr
    assert "dispatch rule 'by-hand'" in res.stderr
