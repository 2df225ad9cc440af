"""apply under faults: transient errors, the server stopping mid-apply, two applies at once.

Every test compares what sipctl reports with what the sandbox really holds (its state dump,
or its data directory read back after a restart).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from tests.fixtures.sandbox import REPO, Sandbox, SandboxFactory
from tests.reconcile_helpers import sipctl, write_config

ENV = {"BULK_PW": "bulk-Pa55-word-0"}


def many(n: int) -> str:
    lines = ["outbound_trunks:"]
    for i in range(n):
        lines += [
            f"  t{i:03d}:",
            f"    address: sip{i % 7}.example.com",
            f'    numbers: ["+1555020{i:04d}"]',
            '    auth: {username: bulk, password: "${BULK_PW}"}',
        ]
    return "\n".join(lines) + "\n"


def names(sb: Sandbox) -> Counter[str]:
    return Counter(t["name"] for t in sb.state()["sip_outbound_trunks"])


def apply_json(sb: Sandbox, cfg: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    args = ("apply", "--auto-approve", "--no-verify", "--format", "json", "--debug", *extra)
    res = sipctl(sb, cfg, *args, env=ENV)
    assert "Traceback" not in res.output
    return res.exit_code, json.loads(res.stdout), res.stderr


def test_transient_errors_converge_without_duplicates(sandbox: Sandbox, tmp_path: Path) -> None:
    n = 100
    cfg = write_config(tmp_path / "c", many(n))
    # 20 % of the creates answer `unavailable`: half before storing anything, half after
    # storing (the answer is lost); the lookups sipctl makes before a retry are not faulted
    sandbox.set_faults(
        seed=20,
        errors=[
            {"method": "CreateSIPOutboundTrunk", "rate": 0.1, "code": "unavailable"},
            {
                "method": "CreateSIPOutboundTrunk",
                "rate": 0.11,
                "code": "unavailable",
                "when": "after",
            },
        ],
    )
    code, report, debug = apply_json(sandbox, cfg)
    assert code == 0, report["summary"]
    assert report["summary"]["applied"] == n
    held = names(sandbox)
    assert sorted(held) == [f"t{i:03d}" for i in range(n)]
    assert max(held.values()) == 1  # every change applied once: no duplicate from a retry
    ids = {c["name"]: c["id"] for c in report["changes"]}
    assert {t["name"]: t["sip_trunk_id"] for t in sandbox.state()["sip_outbound_trunks"]} == ids
    # the faults really happened, and the retries are in the --debug log
    creates = sandbox.state()["requests_by_method"]["CreateSIPOutboundTrunk"]
    retries = re.findall(r"creating outbound trunk '(t\d+)'.* failed .*; retry \d/3", debug)
    assert creates > n and len(retries) >= creates - n, (creates, len(retries))
    sandbox.clear_faults()
    plan = sipctl(sandbox, cfg, "plan", env=ENV)
    assert plan.stdout.startswith("No changes."), plan.stdout


def test_crash_mid_apply_reports_what_the_server_holds(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    n = 20
    sb = sandbox_factory()  # with a data directory: what it stored survives the stop
    cfg = write_config(tmp_path / "c", many(n))
    # the plan reads 3 lists; each create is read back: the server stops after serving
    # requests for about half the creates (which ones depends on the interleaving)
    sb.set_faults(stop_after=3 + n)
    code, report, _ = apply_json(sb, cfg)
    assert sb.wait_exit(15) == 0  # it stopped by itself, cleanly (flushed)
    assert code == 1
    assert report["ok"] is False and report["exit_code"] == 1
    sb.start()  # the same port and data directory
    held = names(sb)
    assert max(held.values(), default=1) == 1
    assert n // 2 <= len(held) <= n  # the creates among the requests it served
    for c in report["changes"]:
        label = f"{c['name']}: {c['status']} ({c['error']})"
        if c["status"] == "applied":
            assert c["name"] in held, f"reported applied, but the server does not hold it: {label}"
        elif c["name"] in held:
            assert "may have been applied" in c["error"], f"applied without saying so: {label}"
        else:
            assert c["status"] in ("failed", "not_attempted"), label
            assert c["error"], label
    assert report["summary"]["applied"] <= len(held)
    # after the restart, a new plan shows exactly the rest
    res = sipctl(sb, cfg, "plan", "--format", "json", env=ENV)
    assert res.exit_code == 0, res.output
    planned = {(c["action"], c["name"]) for c in json.loads(res.stdout)["changes"]}
    assert planned == {("create", f"t{i:03d}") for i in range(n)} - {("create", k) for k in held}
    code, report, _ = apply_json(sb, cfg)
    assert code == 0 and report["summary"]["applied"] == n - len(held)
    assert sorted(names(sb).values()) == [1] * n


def test_two_applies_at_once(sandbox_factory: SandboxFactory, tmp_path: Path) -> None:
    n = 20
    # 30 ms per request: both plans read LiveKit before either has created anything
    sb = sandbox_factory(extra_args=["--latency-ms", "30"])
    cfg = write_config(tmp_path / "c", many(n))
    env = {**os.environ, **sb.env, **ENV, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "sipctl", "apply", "--config", str(cfg), "--auto-approve"]
    argv += ["--no-verify", "--format", "json"]
    procs = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert "Traceback" not in err
        assert p.returncode in (0, 1), err
    held = names(sb)
    assert sorted(held) == [f"t{i:03d}" for i in range(n)]
    dupes = sorted(name for name, count in held.items() if count > 1)
    sb.set_faults(latency_ms=0)
    before = sb.state()["sip_outbound_trunks"]
    plan = sipctl(sb, cfg, "plan", env=ENV)
    again = sipctl(sb, cfg, "apply", "--auto-approve", "--no-verify", env=ENV)
    if not dupes:  # one apply saw the other's trunks: nothing left to do
        assert plan.stdout.startswith("No changes."), plan.stdout
        assert again.exit_code == 0
        return
    # LiveKit has no uniqueness to lean on: the duplicates are named, with their IDs, and
    # apply refuses to guess which one to keep (nothing changes)
    by_name: dict[str, list[str]] = {}
    for t in before:
        by_name.setdefault(t["name"], []).append(t["sip_trunk_id"])
    for res in (plan, again):
        assert res.exit_code == 1, res.output
        assert "Traceback" not in res.output
        for name in dupes:
            assert f"'{name}'" in res.stderr, res.stderr
            assert all(rid in res.stderr for rid in by_name[name]), res.stderr
        assert "delete or rename all but one" in res.stderr
    assert sb.state()["sip_outbound_trunks"] == before
