"""`sipctl plan` and `sipctl apply` against the sandbox: the whole reconcile loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from livekit import api

from tests.fixtures.sandbox import Sandbox
from tests.reconcile_helpers import sipctl, write_config

T = TypeVar("T")
PW = "Tr0ub4dor-and-3"
ENV = {"ACME_PW": PW}

BASE = """
    outbound_trunks:
      acme:
        address: sip.acme.example
        transport: udp
        numbers: ["+15550100001"]
        auth: {username: trunkuser, password: "${ACME_PW}"}
        headers: {X-Team: voice}
        metadata: {team: voice}
    inbound_trunks:
      office:
        numbers: ["+15550200001", "+15550200002"]
      desk:
        numbers: ["+15550200003"]
    dispatch_rules:
      support:
        rule: {direct: {room_name: support}}
        trunks: [office]
    settings: {owner: test}
"""


def _by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {i["name"]: i for i in items}


def _apply(sb: Sandbox, cfg: Path, *extra: str) -> Any:
    return sipctl(sb, cfg, "apply", "--auto-approve", "--no-verify", *extra, env=ENV)


def test_create_update_delete_each_kind_and_empty_second_plan(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path / "config", BASE)
    plan = sipctl(sandbox, cfg, "plan", env=ENV)
    assert plan.exit_code == 0, plan.output
    assert "  + create outbound_trunk acme" in plan.stdout
    assert "  + create dispatch_rule support" in plan.stdout
    assert plan.stdout.splitlines()[-1] == "Plan: 4 to create, 0 to update, 0 to delete."

    res = _apply(sandbox, cfg)
    assert res.exit_code == 0, res.output
    assert "Apply complete: 4 applied, 0 failed, 0 not attempted." in res.stdout
    state = sandbox.state()
    out = _by_name(state["sip_outbound_trunks"])["acme"]
    assert out["auth_password"] == PW and out["headers"] == {"X-Team": "voice"}
    meta = json.loads(out["metadata"])
    assert (
        meta["team"] == "voice"
        and meta["sipctl"]["v"] == 1
        and meta["sipctl"]["fp"].startswith("s1.")
    )
    office_id = _by_name(state["sip_inbound_trunks"])["office"]["sip_trunk_id"]
    rule = _by_name(state["sip_dispatch_rules"])["support"]
    assert rule["trunk_ids"] == [office_id]

    again = sipctl(sandbox, cfg, "plan", "--detailed-exitcode", env=ENV)
    assert again.exit_code == 0, again.output
    assert again.stdout == "No changes. LiveKit matches the configuration.\n"

    # update one field of each kind
    write_config(
        cfg,
        BASE.replace("sip.acme.example", "sip2.acme.example")
        .replace('["+15550200003"]', '["+15550200003", "+15550200004"]')
        .replace("room_name: support", "room_name: helpdesk"),
    )
    plan = sipctl(sandbox, cfg, "plan", "--detailed-exitcode", env=ENV)
    assert plan.exit_code == 2, plan.output
    lines = plan.stdout.splitlines()
    assert "      address: sip.acme.example -> sip2.acme.example" in lines
    assert "      numbers: [+15550200003] -> [+15550200003, +15550200004]" in lines
    assert "      rule.direct.room_name: support -> helpdesk" in lines
    assert lines[-1] == "Plan: 0 to create, 3 to update, 0 to delete."
    ids_before = {t["name"]: t["sip_trunk_id"] for t in sandbox.state()["sip_outbound_trunks"]}
    assert _apply(sandbox, cfg).exit_code == 0
    state = sandbox.state()
    assert {t["name"]: t["sip_trunk_id"] for t in state["sip_outbound_trunks"]} == ids_before
    assert _by_name(state["sip_outbound_trunks"])["acme"]["auth_password"] == PW
    assert (
        _by_name(state["sip_dispatch_rules"])["support"]["rule"]["dispatch_rule_direct"][
            "room_name"
        ]
        == "helpdesk"
    )
    assert sipctl(sandbox, cfg, "plan", env=ENV).stdout.startswith("No changes.")

    # delete: orphans are kept without --allow-delete, deleted with it
    write_config(cfg, "settings: {owner: test}\n")
    plan = sipctl(sandbox, cfg, "plan", env=ENV)
    assert "Orphaned" in plan.stdout and plan.stdout.endswith(
        "Plan: 0 to create, 0 to update, 0 to delete, 4 orphaned.\n"
    )
    kept = _apply(sandbox, cfg)
    assert kept.exit_code == 0 and len(sandbox.state()["sip_outbound_trunks"]) == 1
    plan = sipctl(sandbox, cfg, "plan", "--allow-delete", env=ENV)
    assert plan.stdout.splitlines()[-1] == "Plan: 0 to create, 0 to update, 4 to delete."
    res = _apply(sandbox, cfg, "--allow-delete")
    assert res.exit_code == 0, res.output
    state = sandbox.state()
    assert (
        state["sip_outbound_trunks"]
        == state["sip_inbound_trunks"]
        == state["sip_dispatch_rules"]
        == []
    )


def test_header_maps_change_through_replace_keeping_id_and_password(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path / "config", BASE)
    assert _apply(sandbox, cfg).exit_code == 0
    before = _by_name(sandbox.state()["sip_outbound_trunks"])["acme"]
    write_config(
        cfg,
        BASE.replace(
            "headers: {X-Team: voice}",
            "headers: {X-Team: agents, X-Env: prod}\n"
            "        headers_to_attributes: {X-Call: call}\n"
            "        include_headers: x_headers",
        ),
    )
    plan = sipctl(sandbox, cfg, "plan", env=ENV)
    assert "      headers.X-Team: voice -> agents" in plan.stdout
    assert "      headers.X-Env: (none) -> prod" in plan.stdout
    assert "      include_headers: none -> x_headers" in plan.stdout
    assert "sent as replace" in plan.stdout
    assert _apply(sandbox, cfg).exit_code == 0
    after = _by_name(sandbox.state()["sip_outbound_trunks"])["acme"]
    assert after["sip_trunk_id"] == before["sip_trunk_id"]
    assert after["headers"] == {"X-Team": "agents", "X-Env": "prod"}
    assert after["headers_to_attributes"] == {"X-Call": "call"}
    assert after["include_headers"] == "SIP_X_HEADERS"
    assert after["auth_password"] == PW and after["auth_username"] == "trunkuser"
    assert after["metadata"] == before["metadata"]
    assert sipctl(sandbox, cfg, "plan", env=ENV).stdout.startswith("No changes.")


def test_number_moved_between_inbound_trunks_in_one_apply(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config", BASE)
    assert _apply(sandbox, cfg).exit_code == 0
    # +15550200002 moves from office to desk: LiveKit refuses two trunks with one number
    write_config(
        cfg,
        BASE.replace('["+15550200001", "+15550200002"]', '["+15550200001"]').replace(
            '["+15550200003"]', '["+15550200003", "+15550200002"]'
        ),
    )
    res = _apply(sandbox, cfg, "--parallelism", "8")
    assert res.exit_code == 0, res.output
    inbound = _by_name(sandbox.state()["sip_inbound_trunks"])
    assert inbound["office"]["numbers"] == ["+15550200001"]
    assert sorted(inbound["desk"]["numbers"]) == ["+15550200002", "+15550200003"]
    assert sipctl(sandbox, cfg, "plan", env=ENV).stdout.startswith("No changes.")


def lk_run(sb: Sandbox, fn: Callable[[api.LiveKitAPI], Awaitable[T]]) -> T:
    """Run ``fn(LiveKitAPI)`` to completion (the CLI runs its own event loop)."""

    async def main() -> T:
        lk = api.LiveKitAPI(sb.url, sb.api_key, sb.api_secret)
        try:
            return await fn(lk)
        finally:
            await lk.aclose()

    return asyncio.run(main())


def test_unmanaged_resources_are_listed_and_untouched(sandbox: Sandbox, tmp_path: Path) -> None:
    hand = lk_run(
        sandbox,
        lambda lk: lk.sip.create_outbound_trunk(
            api.CreateSIPOutboundTrunkRequest(
                trunk=api.SIPOutboundTrunkInfo(
                    name="hand-made", address="x.example", numbers=["+15550900001"], metadata="mine"
                )
            )
        ),
    )
    cfg = write_config(tmp_path / "config", BASE)
    plan = sipctl(sandbox, cfg, "plan", "--allow-delete", env=ENV)
    assert f"  outbound_trunk hand-made ({hand.sip_trunk_id})" in plan.stdout
    assert "- delete" not in plan.stdout
    assert _apply(sandbox, cfg, "--allow-delete").exit_code == 0
    live = _by_name(sandbox.state()["sip_outbound_trunks"])["hand-made"]
    assert live["metadata"] == "mine" and live["address"] == "x.example"


def test_duplicate_managed_names_are_refused_and_nothing_applied(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    marker = json.dumps({"sipctl": {"v": 1}})
    ids = []
    for _ in range(2):
        t = lk_run(
            sandbox,
            lambda lk: lk.sip.create_outbound_trunk(
                api.CreateSIPOutboundTrunkRequest(
                    trunk=api.SIPOutboundTrunkInfo(
                        name="acme", address="x.example", numbers=["+1555"], metadata=marker
                    )
                )
            ),
        )
        ids.append(t.sip_trunk_id)
    cfg = write_config(tmp_path / "config", BASE)
    for args in (["plan"], ["apply", "--auto-approve", "--no-verify"]):
        res = sipctl(sandbox, cfg, *args, env=ENV)
        assert res.exit_code == 1
        assert ids[0] in res.stderr and ids[1] in res.stderr
        assert "Traceback" not in res.output
    state = sandbox.state()
    assert len(state["sip_outbound_trunks"]) == 2 and state["sip_inbound_trunks"] == []


def test_saved_plan_applies_or_is_refused_when_stale(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config", BASE)
    saved = tmp_path / "plan.json"
    res = sipctl(sandbox, cfg, "plan", "--out", str(saved), env=ENV)
    assert res.exit_code == 0 and saved.exists()
    doc = json.loads(saved.read_text())
    assert doc["format_version"] == 1 and doc["summary"]["create"] == 4
    assert PW not in saved.read_text()
    ok = sipctl(sandbox, cfg, "apply", str(saved), "--no-verify", env=ENV)
    assert ok.exit_code == 0, ok.output
    assert "Apply complete: 4 applied" in ok.stdout

    # a plan made now, then LiveKit changes under it
    res = sipctl(sandbox, cfg, "plan", "--out", str(saved), env=ENV)
    write_config(cfg, BASE.replace("sip.acme.example", "sip3.acme.example"))
    res = sipctl(sandbox, cfg, "plan", "--out", str(saved), env=ENV)
    assert "1 to update" in res.stdout
    acme = _by_name(sandbox.state()["sip_outbound_trunks"])["acme"]
    sandbox_edit(sandbox, acme["sip_trunk_id"])
    before = sandbox.state()
    stale = sipctl(sandbox, cfg, "apply", str(saved), "--no-verify", env=ENV)
    assert stale.exit_code == 1
    assert f"outbound trunk 'acme' ({acme['sip_trunk_id']}) changed in LiveKit" in stale.stderr
    assert "Nothing was changed" in stale.stderr
    assert sandbox.state()["sip_outbound_trunks"] == before["sip_outbound_trunks"]

    # and the config changing under a saved plan
    res = sipctl(sandbox, cfg, "plan", "--out", str(saved), env=ENV)
    write_config(cfg, BASE.replace("sip.acme.example", "sip4.acme.example"))
    stale = sipctl(sandbox, cfg, "apply", str(saved), "--no-verify", env=ENV)
    assert stale.exit_code == 1
    assert f"outbound trunk 'acme' ({acme['sip_trunk_id']}) changed in the config" in stale.stderr
    # a rotated secret in the environment is a config change too
    res = sipctl(sandbox, cfg, "plan", "--out", str(saved), env=ENV)
    stale = sipctl(
        sandbox, cfg, "apply", str(saved), "--no-verify", env={"ACME_PW": "rotated-pw-77"}
    )
    assert stale.exit_code == 1 and "outbound trunk 'acme' (ST_" in stale.stderr
    assert "changed in the config" in stale.stderr
    assert "rotated-pw-77" not in stale.output


def sandbox_edit(sb: Sandbox, trunk_id: str) -> None:
    lk_run(sb, lambda lk: lk.sip.update_outbound_trunk_fields(trunk_id, address="edited.example"))


def _many(n: int, address: str = "sip.example.com", changed: int = 0, settings: str = "") -> str:
    lines = ["outbound_trunks:"]
    for i in range(n):
        addr = "changed.example.com" if i < changed else address
        lines += [f"  t{i:02d}:", f"    address: {addr}", f'    numbers: ["+1555010{i:04d}"]']
    return "\n".join(lines) + "\n" + (settings or "settings: {owner: test}") + "\n"


def test_thresholds_refuse_with_numbers_unless_forced(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config", _many(10))
    assert _apply(sandbox, cfg).exit_code == 0
    write_config(cfg, _many(10, changed=4))
    plan = sipctl(sandbox, cfg, "plan", env=ENV)
    assert "Warning: apply would refuse this plan: refusing to update 4 of 10" in plan.stdout
    res = _apply(sandbox, cfg)
    assert res.exit_code == 1
    assert (
        "refusing to update 4 of 10 managed resources (40% > settings.max_update_percent 30%)"
        in res.stderr
    )
    assert {t["address"] for t in sandbox.state()["sip_outbound_trunks"]} == {"sip.example.com"}
    forced = _apply(sandbox, cfg, "--force")
    assert forced.exit_code == 0, forced.output
    # deletes: 4 of 10 need --force as well, and only happen with --allow-delete
    write_config(cfg, _many(6, changed=4))
    assert _apply(sandbox, cfg).exit_code == 0
    assert len(sandbox.state()["sip_outbound_trunks"]) == 10
    res = _apply(sandbox, cfg, "--allow-delete")
    assert res.exit_code == 1 and "refusing to delete 4 of 10" in res.stderr
    assert _apply(sandbox, cfg, "--allow-delete", "--force").exit_code == 0
    assert len(sandbox.state()["sip_outbound_trunks"]) == 6
    write_config(cfg, _many(5, changed=4, settings="settings: {owner: test, prune: true}"))
    assert _apply(sandbox, cfg).exit_code == 0  # 6 managed < 10: no threshold
    assert len(sandbox.state()["sip_outbound_trunks"]) == 5


def test_partial_failure_reports_every_change_and_replan_shows_the_rest(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path / "config", BASE)
    sandbox.set_faults(
        errors=[{"method": "CreateSIPInboundTrunk", "code": "invalid_argument", "msg": "boom"}]
    )
    res = sipctl(sandbox, cfg, "apply", "--auto-approve", "--no-verify", env=ENV)
    assert res.exit_code == 1
    out = res.stdout
    assert "applied        + create outbound_trunk acme (ST_" in out
    assert (
        "failed         + create inbound_trunk office: creating inbound trunk 'office': "
        "LiveKit answered invalid_argument: boom"
    ) in out
    assert (
        "not attempted  + create dispatch_rule support: waits for inbound trunk 'office', "
        "which did not apply"
    ) in out
    assert "Apply failed: 1 applied, 2 failed, 1 not attempted." in out

    sandbox.clear_faults()
    plan = sipctl(sandbox, cfg, "plan", env=ENV)
    assert plan.stdout.splitlines()[-1] == "Plan: 3 to create, 0 to update, 0 to delete."
    assert "acme" not in plan.stdout
    res = sipctl(
        sandbox, cfg, "apply", "--auto-approve", "--no-verify", "--format", "json", env=ENV
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["ok"] is True and report["summary"]["applied"] == 3
    assert {c["status"] for c in report["changes"]} == {"applied"}


def test_json_apply_report_on_failure(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config", BASE)
    sandbox.set_faults(
        errors=[{"method": "CreateSIPOutboundTrunk", "code": "failed_precondition", "msg": "nope"}]
    )
    res = sipctl(
        sandbox, cfg, "apply", "--auto-approve", "--no-verify", "--format", "json", env=ENV
    )
    assert res.exit_code == 1
    report = json.loads(res.stdout)
    assert report["format_version"] == 1 and report["kind"] == "sipctl-apply"
    by_name = {c["name"]: c for c in report["changes"]}
    assert by_name["acme"]["status"] == "failed"
    assert "failed_precondition: nope" in by_name["acme"]["error"]
    assert by_name["support"]["status"] == "applied"
    assert report["exit_code"] == 1 and report["plan"]["summary"]["create"] == 4


def test_transient_faults_are_retried_without_duplicates(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config", _many(8))
    # every create is stored, then its answer is lost (503) once in a while
    sandbox.set_faults(
        seed=7,
        errors=[
            {
                "method": "CreateSIPOutboundTrunk",
                "code": "unavailable",
                "when": "after",
                "rate": 0.5,
            }
        ],
    )
    res = _apply(sandbox, cfg)
    assert res.exit_code == 0, res.output
    names = [t["name"] for t in sandbox.state()["sip_outbound_trunks"]]
    assert sorted(names) == [f"t{i:02d}" for i in range(8)]  # no duplicate from a blind retry
    calls = sandbox.state()["requests_by_method"]
    assert calls["CreateSIPOutboundTrunk"] == 8
    assert calls["ListSIPOutboundTrunk"] > 2  # lost answers were looked up, not re-created
    sandbox.clear_faults()
    assert sipctl(sandbox, cfg, "plan", env=ENV).stdout.startswith("No changes.")


def test_apply_without_a_tty_needs_auto_approve(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config", BASE)
    res = sipctl(sandbox, cfg, "apply", "--no-verify", env=ENV)
    assert res.exit_code == 1
    assert "stdin is not a terminal" in res.stderr and "--auto-approve" in res.stderr
    assert sandbox.state()["sip_outbound_trunks"] == []


def test_targets_limit_plan_and_apply(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config", BASE)
    res = _apply(sandbox, cfg, "--target", "acme", "--target", "desk")
    assert res.exit_code == 0, res.output
    state = sandbox.state()
    assert [t["name"] for t in state["sip_outbound_trunks"]] == ["acme"]
    assert [t["name"] for t in state["sip_inbound_trunks"]] == ["desk"]
    plan = sipctl(sandbox, cfg, "plan", "--target", "support", env=ENV)
    assert plan.exit_code == 1 and "add --target office" in plan.stderr


def test_plan_json_and_markdown(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config", BASE)
    res = sipctl(sandbox, cfg, "plan", "--format", "json", env=ENV)
    doc = json.loads(res.stdout)
    assert doc["summary"]["create"] == 4 and doc["livekit_url"] == sandbox.url
    md = sipctl(sandbox, cfg, "plan", "--format", "markdown", env=ENV)
    assert md.stdout.startswith("### sipctl plan") and "Plan: 4 to create" in md.stdout


def test_rule_key_moved_between_dispatch_rules(sandbox: Sandbox, tmp_path: Path) -> None:
    rules = """
    inbound_trunks:
      office:
        numbers: ["+15550200001"]
    dispatch_rules:
      a:
        rule: {direct: {room_name: a}}
        trunks: [office]
        inbound_numbers: [NUMS_A]
      b:
        rule: {direct: {room_name: b}}
        trunks: [office]
        inbound_numbers: [NUMS_B]
    """
    cfg = write_config(
        tmp_path / "config",
        rules.replace("NUMS_A", '"+15550700001"').replace("NUMS_B", '"+15550700002"'),
    )
    assert _apply(sandbox, cfg).exit_code == 0
    # the caller +15550700001 moves from rule a to rule b (same trunk, same empty PIN)
    write_config(
        cfg,
        rules.replace("NUMS_A", '"+15550700003"').replace(
            "NUMS_B", '"+15550700002", "+15550700001"'
        ),
    )
    res = _apply(sandbox, cfg)
    assert res.exit_code == 0, res.output
    live = _by_name(sandbox.state()["sip_dispatch_rules"])
    assert live["a"]["inbound_numbers"] == ["+15550700003"]
    assert sorted(live["b"]["inbound_numbers"]) == ["+15550700001", "+15550700002"]
