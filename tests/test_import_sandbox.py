"""`sipctl import` against the sandbox: YAML out, ~ adopt in, no field changes, then managed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml
from livekit import api

from tests.fixtures.sandbox import Sandbox, SandboxFactory
from tests.reconcile_helpers import sipctl

PW = "imported-Pa55-9x"


def _seed(sb: Sandbox) -> dict[str, str]:
    async def main() -> dict[str, str]:
        lk = api.LiveKitAPI(sb.url, sb.api_key, sb.api_secret)
        try:
            out = await lk.sip.create_outbound_trunk(
                api.CreateSIPOutboundTrunkRequest(
                    trunk=api.SIPOutboundTrunkInfo(
                        name="acme-us",
                        address="sip.acme.example:5060",
                        transport=api.SIPTransport.SIP_TRANSPORT_TCP,
                        numbers=["+15550100001", "+15550100002"],
                        auth_username="trunkuser",
                        auth_password=PW,
                        headers={"X-Customer": "c1"},
                        metadata=json.dumps({"team": "voice"}),
                        destination_country="US",
                    )
                )
            )
            inb = await lk.sip.create_inbound_trunk(
                api.CreateSIPInboundTrunkRequest(
                    trunk=api.SIPInboundTrunkInfo(
                        name="office", numbers=["+15550200001"], allowed_addresses=["10.0.0.0/8"]
                    )
                )
            )
            rule = await lk.sip.create_dispatch_rule(
                api.CreateSIPDispatchRuleRequest(
                    dispatch_rule=api.SIPDispatchRuleInfo(
                        name="support",
                        trunk_ids=[inb.sip_trunk_id],
                        rule=api.SIPDispatchRule(
                            dispatch_rule_individual=api.SIPDispatchRuleIndividual(
                                room_prefix="call-"
                            )
                        ),
                    )
                )
            )
            return {
                "acme-us": out.sip_trunk_id,
                "office": inb.sip_trunk_id,
                "support": rule.sip_dispatch_rule_id,
            }
        finally:
            await lk.aclose()

    return asyncio.run(main())


@pytest.mark.parametrize("mask", [False, True], ids=["returned", "masked"])
def test_import_round_trip(sandbox_factory: SandboxFactory, tmp_path: Path, mask: bool) -> None:
    sb = sandbox_factory(mask_secrets=mask)
    ids = _seed(sb)
    cfg = tmp_path / "config"
    out = cfg / "imported.yaml"
    res = sipctl(sb, cfg, "import", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert "Wrote 1 outbound trunk, 1 inbound trunk, 1 dispatch rule to" in res.stderr
    assert "ACME_US_SIP_PASSWORD" in res.stderr
    text = out.read_text()
    assert PW not in text and PW not in res.output
    data = yaml.safe_load(text)
    assert data["outbound_trunks"]["acme-us"]["auth"]["password"] == "${ACME_US_SIP_PASSWORD}"
    assert data["dispatch_rules"]["support"]["trunks"] == ["office"]

    env = {"ACME_US_SIP_PASSWORD": PW}
    plan = sipctl(sb, cfg, "plan", env=env)
    assert plan.exit_code == 0, plan.output
    lines = plan.stdout.splitlines()
    assert f"  ~ adopt outbound_trunk acme-us ({ids['acme-us']})" in lines
    assert f"  ~ adopt inbound_trunk office ({ids['office']})" in lines
    assert f"  ~ adopt dispatch_rule support ({ids['support']})" in lines
    assert not any(" -> " in line for line in lines)  # no field changes
    assert lines[-1] == "Plan: 0 to create, 3 to update, 0 to delete."

    res = sipctl(sb, cfg, "apply", "--auto-approve", "--no-verify", env=env)
    assert res.exit_code == 0, res.output
    state = sb.state()
    trunk = state["sip_outbound_trunks"][0]
    assert trunk["sip_trunk_id"] == ids["acme-us"] and trunk["auth_password"] == PW
    assert json.loads(trunk["metadata"])["team"] == "voice"
    assert "sipctl" in json.loads(trunk["metadata"])
    again = sipctl(sb, cfg, "plan", "--detailed-exitcode", env=env)
    assert again.exit_code == 0 and again.stdout.startswith("No changes."), again.output


def test_import_selected_by_name_or_id_to_stdout(sandbox: Sandbox, tmp_path: Path) -> None:
    ids = _seed(sandbox)
    res = sipctl(sandbox, tmp_path, "import", ids["office"], "support")
    assert res.exit_code == 0, res.output
    data = yaml.safe_load(res.stdout)
    assert list(data) == ["inbound_trunks", "dispatch_rules"]
    missing = sipctl(sandbox, tmp_path, "import", "nope")
    assert missing.exit_code == 1 and "nope" in missing.stderr
    (tmp_path / "x.yaml").write_text("")
    refused = sipctl(sandbox, tmp_path, "import", "--out", str(tmp_path / "x.yaml"))
    assert refused.exit_code == 1 and "--force" in refused.stderr
