"""``sipctl route``: the command, its JSON keys, text and exit codes (offline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sipctl.cli import cli

CONFIG = """\
inbound_trunks:
  main-in:
    numbers: ["+15550700001", "15550700002"]
  partners:
    numbers: ["+15550700003"]
    allowed_numbers: ["+15551112222"]
dispatch_rules:
  sales:
    trunks: [main-in]
    numbers: ["+15550700001"]
    rule: {direct: {room_name: sales-room}}
    room_config: {agents: [{agent_name: sales-agent}]}
  support:
    trunks: [main-in]
    rule: {individual: {room_prefix: support}}
  conf:
    rule: {direct: {room_name: conf, pin: "1234"}}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "inbound.yaml").write_text(CONFIG)
    return tmp_path


def run(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["route", "--config", str(config), *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout


def test_json_keys_and_exit_0(config: Path) -> None:
    code, out = run(config, "+15550700001", "--from", "+15559990000", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert list(data) == ["inbound_trunk", "dispatch_rule", "room_name", "agents", "rejected"]
    assert data["inbound_trunk"] == "main-in"
    assert data["dispatch_rule"] == "sales"
    assert data["room_name"] == "sales-room"
    assert data["agents"] == ["sales-agent"]
    rejected = {(r["kind"], r["name"]) for r in data["rejected"]}
    assert rejected == {
        ("inbound_trunk", "partners"),
        ("dispatch_rule", "support"),
        ("dispatch_rule", "conf"),
    }
    assert all(set(r) == {"kind", "name", "reason"} for r in data["rejected"])


def test_pattern_for_an_individual_rule(config: Path) -> None:
    code, out = run(config, "15550700001", "--from", "+15559990000", "--format", "json")
    data = json.loads(out)
    # the rule's +15550700001 is compared exactly: the call falls to support
    assert (code, data["dispatch_rule"]) == (0, "support")
    assert data["room_name"] == "support_+15559990000_<random>"


def test_no_match_exits_1_with_nulls(config: Path) -> None:
    code, out = run(
        config, "+15550700003", "--from", "+15550000000", "--pin", "0000", "--format", "json"
    )
    data = json.loads(out)
    assert code == 1
    assert data["inbound_trunk"] is None and data["dispatch_rule"] is None
    assert data["room_name"] is None and data["agents"] == []
    reason = next(r["reason"] for r in data["rejected"] if r["name"] == "partners")
    assert "not in allowed_numbers" in reason


def test_pin_prompt_and_pin(config: Path) -> None:
    code, out = run(config, "+15550700003", "--from", "+15551112222")
    assert code == 1 and "asks for a PIN" in out
    code, out = run(config, "+15550700003", "--from", "+15551112222", "--pin", "1234")
    assert code == 0
    assert "partners" in out and "conf (direct)" in out


def test_text_output(config: Path) -> None:
    code, out = run(config, "+15550700001", "--from", "+15559990000", "--source-ip", "127.0.0.1")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Call to +15550700001 from +15559990000 (source 127.0.0.1)"
    assert "  inbound trunk  main-in" in lines
    assert "  dispatch rule  sales (direct)" in lines
    assert "  room           sales-room" in lines
    assert "Not taken:" in lines


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["+15550700001", "--source-ip", "nope"], "not an IPv4 or IPv6 address"),
        (["+15550700001", "--pin", "12#"], "a PIN is typed on the keypad"),
    ],
)
def test_bad_options_are_usage_errors(config: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["route", "--config", str(config), *args])
    assert result.exit_code == 1  # sipctl's usage errors exit 1 (2 means plan changes)
    assert message in result.output


def test_bad_config_is_reported(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("dispatch_rules:\n  r:\n    rule: {}\n")
    result = CliRunner().invoke(cli, ["route", "--config", str(tmp_path), "+1555"])
    assert result.exit_code == 1 and "x.yaml:3" in result.output


def test_live_adds_unmanaged_resources(tmp_path: Path, sandbox: Any) -> None:
    """An unmanaged live trunk and rule (created by hand, no sipctl marker) route calls."""
    import asyncio

    from livekit import api
    from livekit.protocol.agent_dispatch import RoomAgentDispatch
    from livekit.protocol.room import RoomConfiguration

    from tests.reconcile_helpers import sipctl

    async def seed() -> None:
        lk = api.LiveKitAPI(sandbox.url, sandbox.api_key, sandbox.api_secret)
        try:
            inb = await lk.sip.create_inbound_trunk(
                api.CreateSIPInboundTrunkRequest(
                    trunk=api.SIPInboundTrunkInfo(name="legacy", numbers=["+15550709999"])
                )
            )
            await lk.sip.create_dispatch_rule(
                api.CreateSIPDispatchRuleRequest(
                    dispatch_rule=api.SIPDispatchRuleInfo(
                        name="legacy-rule",
                        trunk_ids=[inb.sip_trunk_id],
                        rule=api.SIPDispatchRule(
                            dispatch_rule_direct=api.SIPDispatchRuleDirect(room_name="old")
                        ),
                        room_config=RoomConfiguration(
                            agents=[RoomAgentDispatch(agent_name="legacy-agent")]
                        ),
                    )
                )
            )
        finally:
            await lk.aclose()

    asyncio.run(seed())
    (tmp_path / "inbound.yaml").write_text(CONFIG)
    offline = sipctl(sandbox, tmp_path, "route", "+15550709999", "--format", "json")
    assert offline.exit_code == 1
    live = sipctl(sandbox, tmp_path, "route", "+15550709999", "--live", "--format", "json")
    assert live.exit_code == 0, live.output
    data = json.loads(live.stdout)
    assert (data["inbound_trunk"], data["dispatch_rule"], data["room_name"]) == (
        "legacy",
        "legacy-rule",
        "old",
    )
    assert data["agents"] == ["legacy-agent"]  # from the live rule's room_config
    # the declared resources still take their own numbers
    declared = sipctl(sandbox, tmp_path, "route", "+15550700001", "--live", "--format", "json")
    assert json.loads(declared.stdout)["dispatch_rule"] == "sales"
