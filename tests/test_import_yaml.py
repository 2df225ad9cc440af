"""`sipctl import` as data: YAML in the config's shape, secrets as ${...}, round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from livekit.protocol import sip as pb

from sipctl.config import load_config
from sipctl.errors import SipctlError
from sipctl.importer import import_resources, render_yaml, variable_name
from sipctl.plan import make_plan
from tests.reconcile_helpers import API_SECRET, PASSWORD, inbound_pb, live, outbound_pb, rule_pb


def _state(masked: bool = False):  # type: ignore[no-untyped-def]
    return live(
        outbound=(
            outbound_pb(
                "acme-us",
                "ST_o1",
                managed=False,
                username="trunkuser",
                password=PASSWORD,
                masked=masked,
                transport=pb.SIP_TRANSPORT_UDP,
                destination_country="US",
                headers={"X-Tmpl": "${not-a-var}"},
                user_meta={"team": "voice"},
                media=pb.SIPMediaConfig(
                    codecs=[pb.SIPCodec(name="PCMU", rate=8000)],
                    encryption=pb.SIP_MEDIA_ENCRYPT_REQUIRE,
                ),
            ),
        ),
        inbound=(inbound_pb("office", "ST_i1", managed=False, allowed_addresses=["10.0.0.0/8"]),),
        rules=(
            rule_pb(
                "support", "SDR_1", managed=False, trunk_ids=("ST_i1",), numbers=["+15550200001"]
            ),
        ),
    )


def test_variable_names() -> None:
    assert variable_name("acme-us") == "ACME_US_SIP_PASSWORD"
    assert variable_name("9 lives!") == "T_9_LIVES_SIP_PASSWORD"


def test_yaml_shape_and_secret_reference() -> None:
    result = import_resources(_state())
    text = render_yaml(result, "http://lk")
    assert PASSWORD not in text
    data = yaml.safe_load(text)
    assert data["outbound_trunks"]["acme-us"] == {
        "address": "sip.example.com",
        "transport": "udp",
        "numbers": ["+15550100001"],
        "auth": {"username": "trunkuser", "password": "${ACME_US_SIP_PASSWORD}"},
        "destination_country": "US",
        "headers": {"X-Tmpl": "$${not-a-var}"},
        "media": {"codecs": [{"name": "PCMU", "rate": 8000}], "encryption": "require"},
        "metadata": {"team": "voice"},
    }
    assert data["dispatch_rules"]["support"] == {
        "rule": {"direct": {"room_name": "support"}},
        "trunks": ["office"],
        "numbers": ["+15550200001"],
    }
    assert "#   ACME_US_SIP_PASSWORD  (outbound trunk 'acme-us' (ST_o1))" in text
    assert result.summary() == "1 outbound trunk, 1 inbound trunk, 1 dispatch rule"


@pytest.mark.parametrize("masked", [False, True])
def test_round_trip_plan_shows_adopt_without_field_changes(tmp_path: Path, masked: bool) -> None:
    state = _state(masked)
    (tmp_path / "imported.yaml").write_text(render_yaml(import_resources(state)))
    cfg = load_config(tmp_path, env={"ACME_US_SIP_PASSWORD": PASSWORD})
    plan = make_plan(cfg, state, api_secret=API_SECRET)
    assert [(c.action, c.name, c.fields) for c in plan.changes] == [
        ("adopt", "acme-us", []),
        ("adopt", "office", []),
        ("adopt", "support", []),
    ]


def test_select_by_name_or_id_and_unknown() -> None:
    result = import_resources(_state(), ["ST_i1", "support"])
    assert list(result.data) == ["inbound_trunks", "dispatch_rules"]
    with pytest.raises(SipctlError, match="nope"):
        import_resources(_state(), ["nope"])


def test_nameless_and_duplicate_names_are_skipped_with_warnings() -> None:
    state = live(
        outbound=(
            outbound_pb("", "ST_x"),
            outbound_pb("d", "ST_1"),
            outbound_pb("d", "ST_2", managed=False),
        )
    )
    result = import_resources(state)
    assert result.data == {}
    assert any("ST_x" in w and "no name" in w for w in result.warnings)
    assert any("ST_1, ST_2" in w for w in result.warnings)
