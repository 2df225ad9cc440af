"""Import -> validate -> plan for values LiveKit accepts but sipctl used to refuse (issue
#12 item 9): created through the livekit-api SDK, imported, validated with warnings (exit
0) and planned as a bare adopt, with no field changes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml
from livekit import api

from tests.fixtures.sandbox import Sandbox, SandboxFactory
from tests.reconcile_helpers import sipctl

PW = "only-a-Pa55word"


def _seed(sb: Sandbox) -> dict[str, str]:
    async def main() -> dict[str, str]:
        lk = api.LiveKitAPI(sb.url, sb.api_key, sb.api_secret)
        try:
            out = await lk.sip.create_outbound_trunk(
                api.CreateSIPOutboundTrunkRequest(
                    trunk=api.SIPOutboundTrunkInfo(
                        name="pbx-out",
                        address="pbx.example.com",
                        # a formatted number and a SIP user as caller IDs
                        numbers=["+1 (510) 555-0100", "alice"],
                        destination_country="us",
                        headers={"X-Caller-Name": "Zoë Müller", "X-Pair": "a\tb"},
                    )
                )
            )
            inb = await lk.sip.create_inbound_trunk(
                api.CreateSIPInboundTrunkRequest(
                    trunk=api.SIPInboundTrunkInfo(
                        name="pw-only", auth_password=PW, headers={"X-Site": "Zürich"}
                    )
                )
            )
            office = await lk.sip.create_inbound_trunk(
                api.CreateSIPInboundTrunkRequest(
                    trunk=api.SIPInboundTrunkInfo(
                        name="office",
                        numbers=["+1 510-555-0199"],
                        allowed_numbers=["(510) 555-0123"],
                    )
                )
            )
            return {
                "pbx-out": out.sip_trunk_id,
                "pw-only": inb.sip_trunk_id,
                "office": office.sip_trunk_id,
            }
        finally:
            await lk.aclose()

    return asyncio.run(main())


@pytest.mark.parametrize("mask", [False, True], ids=["returned", "masked"])
def test_values_livekit_accepts_import_validate_and_plan_as_a_bare_adopt(
    sandbox_factory: SandboxFactory, tmp_path: Path, mask: bool
) -> None:
    sandbox = sandbox_factory(mask_secrets=mask)
    ids = _seed(sandbox)
    cfg = tmp_path / "config"
    out = cfg / "imported.yaml"
    res = sipctl(sandbox, cfg, "import", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert "Wrote 1 outbound trunk, 2 inbound trunks to" in res.stderr
    data = yaml.safe_load(out.read_text())
    trunk = data["outbound_trunks"]["pbx-out"]
    assert trunk["numbers"] == ["+1 (510) 555-0100", "alice"]
    assert trunk["destination_country"] == "us"
    assert trunk["headers"] == {"X-Caller-Name": "Zoë Müller", "X-Pair": "a\tb"}
    assert data["inbound_trunks"]["pw-only"]["auth"]["password"] == "${PW_ONLY_SIP_PASSWORD}"
    env = {"PW_ONLY_SIP_PASSWORD": PW}

    valid = sipctl(sandbox, cfg, "validate", env=env)
    assert valid.exit_code == 0, valid.output
    assert "Configuration valid: 1 outbound trunk, 2 inbound trunks" in valid.stdout
    warnings = [line for line in valid.stderr.splitlines() if ": warning: " in line]
    expected = [
        "outbound_trunks.pbx-out.numbers[0]: LiveKit accepts '+1 (510) 555-0100'",
        "outbound_trunks.pbx-out.numbers[1]: 'alice' is a SIP user",
        "outbound_trunks.pbx-out.destination_country: 'us' is not an ISO 3166-1",
        "outbound_trunks.pbx-out.headers.X-Caller-Name: the value of header",
        "outbound_trunks.pbx-out.headers.X-Pair: the value of header 'X-Pair' has a TAB",
        "inbound_trunks.pw-only.auth: auth has no username",
        "inbound_trunks.pw-only.headers.X-Site: the value of header",
        "inbound_trunks.office.numbers[0]: LiveKit accepts '+1 510-555-0199'",
        "inbound_trunks.office.allowed_numbers[0]: LiveKit accepts '(510) 555-0123'",
    ]
    for text in expected:
        # once each, located in the imported file
        found = [line for line in warnings if text in line]
        assert len(found) == 1, (text, warnings)
        assert found[0].startswith(str(out)) or "imported.yaml:" in found[0]

    plan = sipctl(sandbox, cfg, "plan", env=env)
    assert plan.exit_code == 0, plan.output
    lines = plan.stdout.splitlines()
    for name in ("pbx-out", "pw-only", "office"):
        kind = "outbound_trunk" if name == "pbx-out" else "inbound_trunk"
        assert f"  ~ adopt {kind} {name} ({ids[name]})" in lines, plan.stdout
    assert not any(" -> " in line for line in lines), plan.stdout  # no field changes
    assert lines[-1] == "Plan: 0 to create, 3 to update, 0 to delete."
    # the config's warnings once in the run's stderr, and in the JSON plan
    assert sum("'alice' is a SIP user" in x for x in plan.stderr.splitlines()) == 1
    doc = json.loads(sipctl(sandbox, cfg, "plan", "--format", "json", env=env).stdout)
    assert sum("'alice' is a SIP user" in w for w in doc["warnings"]) == 1
    # routing warnings too: once on stderr, once in the JSON plan
    routing = "office.numbers[0]: a call to +15105550199 reaches no dispatch rule"
    assert sum(routing in x for x in plan.stderr.splitlines()) == 1, plan.stderr
    assert sum(routing in w for w in doc["warnings"]) == 1, doc["warnings"]
    # and in the Markdown plan a pull request shows (stderr does not reach the comment)
    md = sipctl(sandbox, cfg, "plan", "--format", "markdown", env=env).stdout
    assert sum("SIP user" in line and line.startswith("> ") for line in md.splitlines()) == 1
    assert [(c["action"], c["fields"]) for c in doc["changes"]] == [("adopt", [])] * 3

    # adopted as they are: LiveKit keeps every value as it was
    res = sipctl(sandbox, cfg, "apply", "--auto-approve", "--no-verify", env=env)
    assert res.exit_code == 0, res.output
    state = sandbox.state()
    [out_trunk] = state["sip_outbound_trunks"]
    assert out_trunk["numbers"] == ["+1 (510) 555-0100", "alice"]
    assert out_trunk["destination_country"] == "us"
    again = sipctl(sandbox, cfg, "plan", "--detailed-exitcode", env=env)
    assert again.exit_code == 0 and again.stdout.startswith("No changes."), again.output
