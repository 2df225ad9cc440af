"""Edges a user meets (#12 items 12, 13): validate --offline, plan --out into a missing
directory, a trailing '/' on the URL, config warnings and not_attempted in JSON."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from sipctl.cli import cli
from tests.fixtures.sandbox import Sandbox
from tests.reconcile_helpers import sipctl, write_config

SECRET_CONFIG = """
outbound_trunks:
  acme:
    address: ${ACME_HOST}
    numbers: ["+15550600001"]
    auth: {username: u, password: "${ACME_PASSWORD}"}
"""


def test_validate_offline_notes_unset_variables(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c", SECRET_CONFIG)
    env = {"ACME_HOST": "", "ACME_PASSWORD": ""}
    runner = CliRunner()
    strict = runner.invoke(cli, ["validate", "--config", str(cfg)], env={k: None for k in env})
    assert strict.exit_code == 1
    offline = runner.invoke(
        cli, ["validate", "--offline", "--config", str(cfg)], env={k: None for k in env}
    )
    assert offline.exit_code == 0, offline.output
    assert "note: outbound_trunks.acme.auth.password: environment variable ACME_PASSWORD" in (
        offline.stderr
    )
    assert "ACME_HOST" in offline.stderr
    # everything else is still checked
    write_config(tmp_path / "c", SECRET_CONFIG.replace("+15550600001", "not-a-number@pbx"))
    bad = runner.invoke(cli, ["validate", "--offline", "--config", str(cfg)])
    assert bad.exit_code == 1


def test_plan_out_into_a_missing_directory(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c", "outbound_trunks: {}\n")
    res = sipctl(sandbox, cfg, "plan", "--out", str(tmp_path / "nope" / "plan.json"))
    assert res.exit_code == 1
    assert f"directory {tmp_path / 'nope'} does not exist" in res.stderr
    assert "Traceback" not in res.output


def test_a_trailing_slash_on_the_url_changes_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c", SECRET_CONFIG)
    env = {"ACME_HOST": "sip.acme.example", "ACME_PASSWORD": "pw-0123456789"}
    out = tmp_path / "plan.json"
    made = sipctl(sandbox, cfg, "plan", "--out", str(out), env=env)
    assert made.exit_code == 0, made.output
    slashed = {**env, "LIVEKIT_URL": sandbox.env["LIVEKIT_URL"] + "/"}
    res = sipctl(sandbox, cfg, "apply", str(out), "--no-verify", env=slashed)
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["livekit_url"] == sandbox.env["LIVEKIT_URL"].rstrip("/")


def test_config_warnings_and_not_attempted_in_json(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path / "c",
        """
        outbound_trunks:
          digits: {address: sip.example.com, numbers: ["15550600002"]}
        inbound_trunks:
          office: {numbers: ["+15550600003"]}
        dispatch_rules:
          support:
            rule: {direct: {room_name: support}}
            trunks: [office]
        """,
    )
    plan = json.loads(sipctl(sandbox, cfg, "plan", "--format", "json").stdout)
    assert any("no leading '+'" in w for w in plan["warnings"])
    # the trunk create fails: the rule that needs it is not attempted
    sandbox.set_faults(errors=[{"method": "CreateSIPInboundTrunk", "code": "invalid_argument"}])
    res = sipctl(sandbox, cfg, "apply", "--auto-approve", "--no-verify", "--format", "json")
    doc = json.loads(res.stdout)
    statuses = {c["name"]: c["status"] for c in doc["changes"]}
    assert statuses["support"] == "not_attempted"
    assert any("no leading '+'" in w for w in doc["warnings"])
