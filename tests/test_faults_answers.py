"""Bad answers from LiveKit: garbage bodies, truncated bodies, HTML error pages (HTTP 502
from a proxy), unknown enum values and missing fields, for plan, import, check and apply.

Each must end in a clear error naming the resource or request, never a traceback or an
"internal error"; apply must never leave something half-applied without saying so (its
report is compared with what the sandbox really holds); check must blame LiveKit (exit 1,
error verdict), not the trunk, and leave no room or call behind when LiveKit lets it
clean up (and say so when it does not).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sipctl.sandbox.provider import NUMBERS, Provider
from tests.fixtures.sandbox import Sandbox
from tests.reconcile_helpers import sipctl, write_config
from tests.test_dial_sandbox import create_trunk

KINDS = ["garbage", "truncated", "html", "unknown_enum", "missing_fields"]
PASSWORD = "answers-Pa55-word"
ENV = {"ACME_PW": PASSWORD}

CONFIG = """
    outbound_trunks:
      acme:
        address: sip.acme.example
        numbers: ["+15550100001"]
        auth: {username: acme, password: "${ACME_PW}"}
      beta:
        address: sip.beta.example
        numbers: ["+15550100002"]
    inbound_trunks:
      office:
        numbers: ["+15550200001"]
    dispatch_rules:
      support:
        rule: {direct: {room_name: support}}
        trunks: [office]
    settings: {owner: faults}
"""
# the second apply: acme changes address, beta is deleted
CHANGED = CONFIG.replace("sip.acme.example", "sip2.acme.example").replace(
    """      beta:
        address: sip.beta.example
        numbers: ["+15550100002"]
""",
    "",
)

SECTIONS = {
    "outbound_trunk": "sip_outbound_trunks",
    "inbound_trunk": "sip_inbound_trunks",
    "dispatch_rule": "sip_dispatch_rules",
}


def fault(method: str, kind: str) -> dict[str, Any]:
    if kind == "lost":  # done, then the answer is lost (every time)
        return {"errors": [{"method": method, "code": "unavailable", "when": "after"}]}
    if kind in ("unknown_enum", "missing_fields"):
        return {"bad_answers": {"method": method, "kind": kind}}
    return {"garbage": {"method": method, "kind": kind}}


def one_clear_error(res: Any) -> str:
    """Exit 1 and a single ``Error: ...`` line on stderr (warnings aside)."""
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output and "internal error" not in res.output, res.output
    errors = [line for line in res.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, res.stderr
    return str(errors[0])


# --- plan and import: reading ---------------------------------------------------------


LISTS = {
    "ListSIPOutboundTrunk": "outbound trunk",
    "ListSIPInboundTrunk": "inbound trunk",
    "ListSIPDispatchRule": "dispatch rule",
}


@pytest.mark.parametrize("kind", KINDS)
def test_plan_names_what_it_could_not_read(sandbox: Sandbox, tmp_path: Path, kind: str) -> None:
    cfg = write_config(tmp_path / "c", CONFIG)
    assert sipctl(sandbox, cfg, "apply", "--auto-approve", env=ENV).exit_code == 0
    for method, what in LISTS.items():
        sandbox.set_faults(**fault(method, kind))
        line = one_clear_error(sipctl(sandbox, cfg, "plan", env=ENV))
        if kind in ("garbage", "truncated", "html"):
            assert f"listing {what}s" in line, line  # the request that failed
        else:
            assert f"LiveKit returned {what} " in line, line  # the resource it could not read
            assert "that sipctl cannot read" in line, line
        if kind == "html":
            assert "HTTP 502" in line, line
        if kind == "missing_fields":
            assert "has no sip_" in line, line


@pytest.mark.parametrize("kind", KINDS)
def test_import_skips_or_refuses_what_it_could_not_read(
    sandbox: Sandbox, tmp_path: Path, kind: str
) -> None:
    cfg = write_config(tmp_path / "c", CONFIG)
    assert sipctl(sandbox, cfg, "apply", "--auto-approve", env=ENV).exit_code == 0
    for method, what in LISTS.items():
        sandbox.set_faults(**fault(method, kind))
        out = tmp_path / f"{method}.yaml"
        res = sipctl(sandbox, cfg, "import", "--out", str(out))
        if kind in ("garbage", "truncated", "html"):
            assert f"listing {what}s" in one_clear_error(res)
            assert not out.exists()  # nothing half-written
            continue
        # readable resources are imported; each unreadable one is skipped with a warning
        assert res.exit_code == 0, res.output
        assert "Traceback" not in res.output
        skipped = [line for line in res.stderr.splitlines() if line.startswith("Warning: skipped")]
        assert skipped, res.stderr
        assert all(what in line for line in skipped), skipped
        assert all(" , " not in line and " :" not in line for line in skipped), skipped
        assert out.exists()


# --- apply: writing -------------------------------------------------------------------


def _held(sb: Sandbox) -> dict[str, dict[str, dict[str, Any]]]:
    state = sb.state()
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for kind, section in SECTIONS.items():
        names = [r["name"] for r in state[section]]
        assert len(names) == len(set(names)), f"duplicate {kind}: {names}"
        out[kind] = {r["name"]: r for r in state[section]}
    return out


def _really_applied(change: dict[str, Any], held: dict[str, dict[str, dict[str, Any]]]) -> bool:
    live = held[change["kind"]].get(change["name"])
    if change["action"] == "delete":
        return live is None
    if live is None:
        return False
    if change["kind"] == "outbound_trunk" and change["name"] == "acme":
        wanted = "sip2.acme.example" if change["action"] == "update" else "sip.acme.example"
        return bool(live["address"] == wanted)
    return True


def assert_report_matches_sandbox(report: dict[str, Any], sb: Sandbox) -> None:
    """Every change the report calls applied is in the sandbox; a failed one that is there
    anyway must say that it may have been applied."""
    held = _held(sb)
    for c in report["changes"]:
        really = _really_applied(c, held)
        label = f"{c['action']} {c['kind']} {c['name']}: {c['status']} ({c['error']})"
        if c["status"] == "applied":
            assert really, f"reported applied, but the sandbox disagrees: {label}"
        elif really:
            assert c["status"] == "failed" and "may have been applied" in (c["error"] or ""), (
                f"applied without saying so: {label}"
            )
        if c["status"] == "failed":
            assert c["name"] in c["error"] or "LiveKit" in c["error"], label
            assert "internal error" not in c["error"], label


WRITES = [
    ("CreateSIPOutboundTrunk", CONFIG),
    ("CreateSIPInboundTrunk", CONFIG),
    ("CreateSIPDispatchRule", CONFIG),
    ("UpdateSIPOutboundTrunk", CHANGED),
    ("DeleteSIPTrunk", CHANGED),
]


# "empty" (a 200 with no body) reads as a valid, empty answer: only a read-back catches it
@pytest.mark.parametrize("kind", [*KINDS, "empty", "lost"])
@pytest.mark.parametrize(("method", "config"), WRITES, ids=[m for m, _ in WRITES])
def test_apply_reports_what_really_happened(
    sandbox: Sandbox, tmp_path: Path, method: str, config: str, kind: str
) -> None:
    cfg = write_config(tmp_path / "c", CONFIG)
    if config is CHANGED:
        assert sipctl(sandbox, cfg, "apply", "--auto-approve", env=ENV).exit_code == 0
        write_config(cfg, CHANGED)
    sandbox.set_faults(**fault(method, kind))
    args = ("apply", "--auto-approve", "--allow-delete", "--force", "--format", "json")
    res = sipctl(sandbox, cfg, *args, env=ENV)
    assert "Traceback" not in res.output
    assert res.exit_code in (0, 1), res.output
    report = json.loads(res.stdout)
    assert report["exit_code"] == res.exit_code
    assert_report_matches_sandbox(report, sandbox)
    # whatever happened, the next plan shows exactly the rest and an apply converges
    sandbox.clear_faults()
    again = sipctl(sandbox, cfg, *args, env=ENV)
    assert again.exit_code == 0, again.output
    assert_report_matches_sandbox(json.loads(again.stdout), sandbox)
    plan = sipctl(sandbox, cfg, "plan", env=ENV)
    assert plan.stdout.startswith("No changes."), plan.stdout
    held = _held(sandbox)
    assert sorted(held["outbound_trunk"]) == (["acme"] if config is CHANGED else ["acme", "beta"])


# --- check: placing calls -------------------------------------------------------------


def _check_config(tmp_path: Path, address: str) -> Path:
    return write_config(
        tmp_path / "c",
        f"""
        outbound_trunks:
          prov:
            address: "{address}"
            numbers: ["+15550001111"]
            auth: {{username: trunkuser, password: "${{PROV_PW}}"}}
        test_calls:
          probe: {{trunk: prov, to: "{NUMBERS["answer"]}", ringing_timeout: 2s, hold: 300ms}}
        """,
    )


def _settled(sandbox: Sandbox, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The sandbox's state once no call is up and ``done`` holds, or after 5 s."""
    for _ in range(50):
        state = sandbox.state()
        if not state["calls"] and done(state):
            break
        time.sleep(0.1)
    return state


CALL_METHODS = ["CreateSIPParticipant", "GetParticipant", "RemoveParticipant", "DeleteRoom"]


CALL_CASES = [
    (method, kind)
    for method in CALL_METHODS
    for kind in KINDS
    # a poll only reads: a truncated answer is the same to it as garbage (and costs 5 s)
    if not (method == "GetParticipant" and kind == "truncated")
]


@pytest.mark.sip
@pytest.mark.parametrize(("method", "kind"), CALL_CASES, ids=[f"{m}-{k}" for m, k in CALL_CASES])
def test_check_blames_livekit_and_cleans_up(
    sandbox: Sandbox, provider: Provider, tmp_path: Path, method: str, kind: str
) -> None:
    asyncio.run(create_trunk(sandbox, "prov", provider.address))
    cfg = _check_config(tmp_path, provider.address)
    sandbox.set_faults(**fault(method, kind))
    args = ("check", "--format", "json")
    res = sipctl(sandbox, cfg, *args, env={"PROV_PW": "trunkpass", "GITHUB_STEP_SUMMARY": ""})
    assert "Traceback" not in res.output
    (r,) = json.loads(res.stdout)["results"]
    label = f"{r['verdict']}: {r['cause']}"
    assert "internal error" not in r["cause"], label
    # LiveKit answering badly is never the trunk's failure
    assert r["verdict"] in ("pass", "error"), label
    assert res.exit_code == (0 if r["verdict"] == "pass" else 1), label
    if r["verdict"] == "error":
        assert "LiveKit" in r["cause"] or "room" in r["cause"], label
    sandbox.clear_faults()
    # the bridge leaves right after its BYE
    state = _settled(sandbox, lambda s: not any(room["participants"] for room in s["rooms"]))
    assert state["calls"] == [], label  # the call is always hung up
    if state["rooms"]:
        # only when LiveKit never deleted it, and then the verdict says so
        assert method == "DeleteRoom" and kind in ("garbage", "html"), (label, state["rooms"])
        assert r["verdict"] == "error" and "could not clean up room" in r["cause"], label
        assert state["rooms"][0]["name"] in r["cause"] and state["rooms"][0]["participants"] == []


@pytest.mark.sip
@pytest.mark.parametrize("method", ["CreateSIPParticipant", "GetParticipant"])
def test_check_never_fails_the_trunk_on_an_empty_answer(
    sandbox: Sandbox, provider: Provider, tmp_path: Path, method: str
) -> None:
    """A 200 with no body reads as a protobuf message with every field unset, as random
    bytes sometimes do (a CI run's garbage answer to CreateSIPParticipant parsed, and the
    check failed the trunk: "answered, then the call ended at once"). Neither answer is
    about this call, so neither may decide its verdict."""
    asyncio.run(create_trunk(sandbox, "prov", provider.address))
    cfg = _check_config(tmp_path, provider.address)
    sandbox.set_faults(garbage={"method": method, "kind": "empty"})
    res = sipctl(sandbox, cfg, "check", "--format", "json", env={"PROV_PW": "trunkpass"})
    assert "Traceback" not in res.output
    (r,) = json.loads(res.stdout)["results"]
    label = f"{r['verdict']}: {r['cause']}"
    assert r["verdict"] == "error" and res.exit_code == 1, label
    assert "LiveKit" in r["cause"] and "not about this call" in r["cause"], label
    sandbox.clear_faults()
    state = _settled(sandbox, lambda s: not s["rooms"])
    assert state["calls"] == [] and state["rooms"] == [], label
