"""Ownership scopes and drift (#12 items 1 and 7) against the sandbox."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from livekit import api

from tests.fixtures.sandbox import Sandbox
from tests.reconcile_helpers import sipctl, write_config


def _config(owner: str | None, *names: str, prune: bool = True) -> str:
    lines = ["outbound_trunks:"]
    for i, name in enumerate(names):
        lines += [f"  {name}:", "    address: sip.example.com", f'    numbers: ["+1555020{i:04d}"]']
    settings = [f"owner: {owner}"] if owner else []
    if prune:
        settings.append("prune: true")
    if settings:
        lines.append("settings: {" + ", ".join(settings) + "}")
    return "\n".join(lines) + "\n"


def _apply(sb: Sandbox, cfg: Path, *extra: str) -> Any:
    return sipctl(sb, cfg, "apply", "--auto-approve", "--no-verify", *extra)


def _trunks(sb: Sandbox) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for t in sb.state()["sip_outbound_trunks"]:
        marker = json.loads(t["metadata"]).get("sipctl", {}) if t.get("metadata") else {}
        out.setdefault(t["name"], []).append(marker.get("o", ""))
    return out


def test_two_owners_pruning_alternately_never_touch_each_other(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    prod = write_config(tmp_path / "prod", _config("prod", "shared", "prod-only"))
    staging = write_config(tmp_path / "staging", _config("staging", "shared", "staging-only"))
    for _ in range(2):
        assert _apply(sandbox, prod).exit_code == 0
        assert _apply(sandbox, staging).exit_code == 0
    held = _trunks(sandbox)
    assert sorted(held["shared"]) == ["prod", "staging"]
    assert held["prod-only"] == ["prod"] and held["staging-only"] == ["staging"]
    # each sees the other's resources as another owner's, never as orphans
    plan = sipctl(sandbox, prod, "plan", "--format", "json", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    doc = json.loads(plan.stdout)
    assert doc["changes"] == [] and doc["orphaned"] == []
    others = {(r["name"], r["owner"]) for r in doc["other_owners"]}
    assert others == {("shared", "staging"), ("staging-only", "staging")}
    text = sipctl(sandbox, prod, "plan").stdout
    assert "Other owners" in text and "staging-only" in text and "owner staging" in text
    # staging drops a trunk: only staging's copy goes
    write_config(tmp_path / "staging", _config("staging", "staging-only"))
    assert _apply(sandbox, staging).exit_code == 0
    assert _trunks(sandbox)["shared"] == ["prod"]


def test_deleting_without_an_owner_is_refused_before_any_write(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path / "c", _config(None, "a", "b", prune=False))
    assert _apply(sandbox, cfg).exit_code == 0
    write_config(tmp_path / "c", _config(None, "a", prune=True))
    res = _apply(sandbox, cfg)
    assert res.exit_code == 1
    assert "needs settings.owner" in res.stderr and "'b'" in res.stderr
    assert sorted(_trunks(sandbox)) == ["a", "b"]  # nothing written
    assert sipctl(sandbox, cfg, "plan", "--allow-delete").exit_code == 1
    # prune with nothing to delete is fine
    write_config(tmp_path / "c", _config(None, "a", "b", prune=True))
    assert _apply(sandbox, cfg).exit_code == 0


def test_an_owner_claims_what_it_declares_and_lists_the_rest(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path / "c", _config(None, "a", "b", prune=False))
    assert _apply(sandbox, cfg).exit_code == 0
    write_config(tmp_path / "c", _config("prod", "a"))
    plan = sipctl(sandbox, cfg, "plan", "--format", "json")
    doc = json.loads(plan.stdout)
    [claim] = doc["changes"]
    assert (claim["action"], claim["name"]) == ("adopt", "a")
    assert "claims it" in claim["note"]
    assert [r["name"] for r in doc["unowned"]] == ["b"]
    assert _apply(sandbox, cfg).exit_code == 0  # prune: true, but b is not prod's
    assert _trunks(sandbox) == {"a": ["prod"], "b": [""]}


def test_take_ownership_moves_a_resource_between_owners(sandbox: Sandbox, tmp_path: Path) -> None:
    staging = write_config(tmp_path / "s", _config("staging", "moving"))
    assert _apply(sandbox, staging).exit_code == 0
    prod = write_config(tmp_path / "p", _config("prod", "moving"))
    res = sipctl(sandbox, prod, "plan", "--take-ownership", "moving")
    assert "~ adopt outbound_trunk moving" in res.stdout
    assert "claims it from owner 'staging'" in res.stdout
    assert _apply(sandbox, prod, "--take-ownership", "moving").exit_code == 0
    assert _trunks(sandbox) == {"moving": ["prod"]}
    bad = sipctl(sandbox, prod, "plan", "--take-ownership", "nosuch")
    assert bad.exit_code == 1 and "--take-ownership nosuch" in bad.stderr


def test_orphans_are_drift(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c", _config("prod", "a", "b", prune=False))
    assert _apply(sandbox, cfg).exit_code == 0
    write_config(tmp_path / "c", _config("prod", "a", prune=False))
    plan = sipctl(sandbox, cfg, "plan", "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output
    assert (
        plan.stdout.splitlines()[-1] == "Plan: 0 to create, 0 to update, 0 to delete, 1 orphaned."
    )
    doc = json.loads(sipctl(sandbox, cfg, "plan", "--format", "json").stdout)
    assert doc["changes"] == [] and [r["name"] for r in doc["orphaned"]] == ["b"]
    assert doc["summary"]["orphaned"] == 1
    # an apply keeps it and changes nothing
    assert _apply(sandbox, cfg).exit_code == 0
    assert sorted(_trunks(sandbox)) == ["a", "b"]


def test_a_hand_made_twin_of_a_managed_resource_is_listed_and_warned_about(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path / "c", _config("prod", "a", prune=False))
    assert _apply(sandbox, cfg).exit_code == 0

    async def make_twin() -> str:
        lk = api.LiveKitAPI(sandbox.url, sandbox.api_key, sandbox.api_secret)
        try:
            info = await lk.sip.create_outbound_trunk(
                api.CreateSIPOutboundTrunkRequest(
                    trunk=api.SIPOutboundTrunkInfo(
                        name="a", address="x.example.com", numbers=["+15550299999"]
                    )
                )
            )
            return str(info.sip_trunk_id)
        finally:
            await lk.aclose()

    twin = asyncio.run(make_twin())
    plan = sipctl(sandbox, cfg, "plan", "--format", "json")
    doc = json.loads(plan.stdout)
    assert {(r["name"], r["id"]) for r in doc["unmanaged"]} == {("a", twin)}
    assert any(twin in w and "no sipctl marker" in w for w in doc["warnings"])
    text = sipctl(sandbox, cfg, "plan").stdout
    assert twin in text and "Warning:" in text
