"""Password fingerprints survive an API key rotation (issue #12 item 8), against a sandbox
that hides passwords as LiveKit Cloud does (``--mask-secrets``).

The rotation is real: the sandbox restarts (same port, same data) knowing only the new
key pair, so the old one is refused, as after a rotation in LiveKit Cloud's console. A CI
runner with its own key pair sees the same thing.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from livekit import api

from sipctl.ownership import parse_metadata
from sipctl.secrets import legacy_fingerprint, matches
from tests.fixtures.sandbox import Sandbox, SandboxFactory
from tests.reconcile_helpers import sipctl, write_config

PW = "acme-Pa55word-1a2b"
PW_IN = "office-Pa55word-3c4d"
ROTATED = "rotated-Pa55word-5e6f"
SECRET_B = "key-pair-b-secret-0123456789abcdef0123"

CONFIG = """
    settings: {owner: prod}
    outbound_trunks:
      acme:
        address: sip.acme.example
        numbers: ["+15550100001"]
        auth: {username: trunkuser, password: "${ACME_PW}"}
    inbound_trunks:
      office:
        numbers: ["+15550200001"]
        auth: {username: office, password: "${OFFICE_PW}"}
"""


def _env(acme: str = PW) -> dict[str, str]:
    return {"ACME_PW": acme, "OFFICE_PW": PW_IN}


def _rotate(sb: Sandbox) -> None:
    """Key pair A is revoked, key pair B is the only one LiveKit accepts."""
    sb.stop()
    sb.api_key, sb.api_secret = "keyB", SECRET_B
    sb.start()


def _markers(sb: Sandbox) -> dict[str, str]:
    state = sb.state()
    out = {}
    for kind in ("sip_outbound_trunks", "sip_inbound_trunks"):
        for t in state[kind]:
            marker = parse_metadata(t["metadata"]).marker
            assert marker is not None and marker.auth_fingerprint
            out[t["name"]] = marker.auth_fingerprint
    return out


def test_unchanged_password_stays_unchanged_after_key_rotation(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    sb = sandbox_factory(mask_secrets=True)
    cfg = write_config(tmp_path / "config", CONFIG)
    res = sipctl(sb, cfg, "apply", "--auto-approve", "--no-verify", env=_env())
    assert res.exit_code == 0, res.output
    written = _markers(sb)

    _rotate(sb)
    res = sipctl(sb, cfg, "plan", "--detailed-exitcode", env=_env())
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("No changes. LiveKit matches the configuration.")

    # a really changed password still shows, with key pair B as with A
    res = sipctl(sb, cfg, "plan", "--detailed-exitcode", env=_env(ROTATED))
    assert res.exit_code == 2, res.output
    assert "  ~ update outbound_trunk acme (ST_" in res.output
    assert "      auth.password: (sensitive value) -> (sensitive value)" in res.output
    assert res.stdout.splitlines()[-1] == "Plan: 0 to create, 1 to update, 0 to delete."
    doc = json.loads(sipctl(sb, cfg, "plan", "--format", "json", env=_env(ROTATED)).stdout)
    [field] = doc["changes"][0]["fields"]
    # the marker's own fingerprints: before is what it holds, after what apply records
    assert field["before_fingerprint"] == written["acme"]
    assert matches(field["after_fingerprint"], ROTATED, "no key") is True

    res = sipctl(sb, cfg, "apply", "--auto-approve", "--no-verify", env=_env(ROTATED))
    assert res.exit_code == 0, res.output
    assert _markers(sb)["acme"] == field["after_fingerprint"]
    assert {t["name"]: t["auth_password"] for t in sb.state()["sip_outbound_trunks"]} == {
        "acme": ROTATED
    }
    res = sipctl(sb, cfg, "plan", "--detailed-exitcode", env=_env(ROTATED))
    assert res.exit_code == 0, res.output


def test_the_marker_holds_a_salted_scrypt_fingerprint_only(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    sb = sandbox_factory(mask_secrets=True)
    cfg = write_config(tmp_path / "config", CONFIG)
    assert sipctl(sb, cfg, "apply", "--auto-approve", "--no-verify", env=_env()).exit_code == 0
    markers = _markers(sb)
    assert set(markers) == {"acme", "office"}
    raw = json.dumps(sb.state()["sip_outbound_trunks"] + sb.state()["sip_inbound_trunks"])
    for name, pw in (("acme", PW), ("office", PW_IN)):
        fp = markers[name]
        assert fp.startswith("s1.") and len(fp) == 28
        assert matches(fp, pw, "any key") is True
        assert legacy_fingerprint(pw, sb.api_secret) not in raw
    metadata = [t["metadata"] for t in sb.state()["sip_outbound_trunks"]]
    assert not any(PW in m or PW_IN in m for m in metadata)
    assert markers["acme"].split(".")[1] != markers["office"].split(".")[1]  # salt each


async def _seed_legacy(sb: Sandbox, password: str, fp: str) -> str:
    """An outbound trunk as an older sipctl left it: its marker holds the HMAC."""
    lk = api.LiveKitAPI(sb.url, sb.api_key, sb.api_secret)
    try:
        trunk = await lk.sip.create_outbound_trunk(
            api.CreateSIPOutboundTrunkRequest(
                trunk=api.SIPOutboundTrunkInfo(
                    name="acme",
                    address="sip.acme.example",
                    numbers=["+15550100001"],
                    auth_username="trunkuser",
                    auth_password=password,
                    metadata=json.dumps({"sipctl": {"fp": fp, "o": "prod", "v": 1}}),
                )
            )
        )
        return str(trunk.sip_trunk_id)
    finally:
        await lk.aclose()


LEGACY_CONFIG = """
    settings: {owner: prod}
    outbound_trunks:
      acme:
        address: sip.acme.example
        numbers: ["+15550100001"]
        auth: {username: trunkuser, password: "${ACME_PW}"}
"""


def test_an_old_hmac_marker_still_compares(sandbox_factory: SandboxFactory, tmp_path: Path) -> None:
    sb = sandbox_factory(mask_secrets=True)
    cfg = write_config(tmp_path / "config", LEGACY_CONFIG)
    old = legacy_fingerprint(PW, sb.api_secret)
    asyncio.run(_seed_legacy(sb, PW, old))

    # same key as when it was recorded: unchanged, and the marker is left as it is
    res = sipctl(sb, cfg, "plan", "--detailed-exitcode", env=_env())
    assert res.exit_code == 0 and res.stdout.startswith("No changes."), res.output
    # a rotated password against the old marker is still a change (and, as an old HMAC
    # cannot tell a new password from a new key, the plan says so)
    res = sipctl(sb, cfg, "plan", "--detailed-exitcode", env=_env(ROTATED))
    assert res.exit_code == 2 and "auth.password" in res.stdout, res.output
    assert "cannot tell" in res.stdout


def test_an_old_marker_of_a_rotated_key_is_a_change_with_a_note(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    sb = sandbox_factory(mask_secrets=True)
    cfg = write_config(tmp_path / "config", LEGACY_CONFIG)
    asyncio.run(_seed_legacy(sb, PW, legacy_fingerprint(PW, sb.api_secret)))
    _rotate(sb)

    res = sipctl(sb, cfg, "plan", "--detailed-exitcode", env=_env())
    assert res.exit_code == 2, res.output
    assert "      auth.password: (sensitive value) -> (sensitive value)" in res.output
    assert "(the password's fingerprint was recorded by an older sipctl, keyed with the API " in (
        res.stdout
    )
    # apply writes the password again and records the salted format: then it compares
    res = sipctl(sb, cfg, "apply", "--auto-approve", "--no-verify", env=_env())
    assert res.exit_code == 0, res.output
    assert _markers(sb)["acme"].startswith("s1.")
    res = sipctl(sb, cfg, "plan", "--detailed-exitcode", env=_env())
    assert res.exit_code == 0 and res.stdout.startswith("No changes."), res.output
