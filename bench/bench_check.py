"""Benchmark: concurrent test calls with ``sipctl check --parallelism 50``.

Everything is real and local: the sandbox (LiveKit API + SIP bridge) dials through
Kamailio (digest auth) to SIPp, which answers; each call holds 1 s. Runs ``sipctl check``
as a user would (a subprocess) for 1, 50 and 200 calls, and 4 sequential rounds of 50.
Target: the 200 calls finish within 1.5x the time of the 4 rounds of 50.

Prints ``name: value unit`` lines and writes the same figures as JSON:

    python bench/bench_check.py [--json bench/results/check.json] [--calls 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    API_KEY,
    API_SECRET,
    Figures,
    bench_main,
    env_for,
    percentile,
    run,
    sipctl_argv,
    start_provider,
    start_sandbox,
)
from sipctl.sandbox.provider import NUMBERS

PARALLELISM = 50
HOLD = "1s"


async def create_trunk(url: str, address: str) -> None:
    from livekit import api

    lk = api.LiveKitAPI(url, API_KEY, API_SECRET)
    try:
        await lk.sip.create_outbound_trunk(
            api.CreateSIPOutboundTrunkRequest(
                trunk=api.SIPOutboundTrunkInfo(
                    name="bench",
                    address=address,
                    numbers=["+15550001111"],
                    auth_username="trunkuser",
                    auth_password="trunkpass",
                    metadata='{"sipctl":{"v":1}}',
                )
            )
        )
    finally:
        await lk.aclose()


def write_config(d: Path, address: str, n: int) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    lines = [
        "outbound_trunks:",
        "  bench:",
        f'    address: "{address}"',
        '    numbers: ["+15550001111"]',
        '    auth: {username: trunkuser, password: "${BENCH_TRUNK_PASSWORD}"}',
        "settings:",
        f"  max_calls_per_trunk: {PARALLELISM}",
        "test_calls:",
    ]
    for i in range(n):
        lines.append(
            f'  call-{i:03d}: {{trunk: bench, to: "{NUMBERS["answer"]}", '
            f"ringing_timeout: 10s, hold: {HOLD}}}"
        )
    (d / "sipctl.yaml").write_text("\n".join(lines) + "\n")
    return d


def run_check(config: Path, env: dict[str, str], out: Path) -> tuple[float, dict[str, Any]]:
    argv = sipctl_argv("check", "--config", str(config), "--parallelism", str(PARALLELISM))
    argv += ["--format", "json", "--output", str(out)]
    res = run(argv, env)
    doc: dict[str, Any] = json.loads(out.read_text())
    return res.wall, doc


def measure(args: argparse.Namespace, figures: Figures) -> None:
    rounds = max(1, args.calls // PARALLELISM)
    with tempfile.TemporaryDirectory(prefix="sipctl-bench-check-") as tmp:
        work = Path(tmp)
        provider = start_provider(work / "provider")
        try:
            with start_sandbox(work / "sandbox") as sb:
                asyncio.run(create_trunk(sb.url, provider.address))
                env = env_for(sb, BENCH_TRUNK_PASSWORD="trunkpass")
                addr = provider.address
                t1, _ = run_check(write_config(work / "c1", addr, 1), env, work / "1.json")
                figures.add("check_1_call_seconds", t1, "s")
                cfg50 = write_config(work / "c50", addr, PARALLELISM)
                t50, _ = run_check(cfg50, env, work / "50.json")
                figures.add(f"check_{PARALLELISM}_calls_seconds", t50, "s")
                seq = 0.0
                for i in range(rounds):
                    seq += run_check(cfg50, env, work / f"round{i}.json")[0]
                figures.add(f"check_{rounds}x{PARALLELISM}_sequential_seconds", seq, "s")
                big = write_config(work / "big", addr, args.calls)
                tbig, doc = run_check(big, env, work / "big.json")
                figures.add(f"check_{args.calls}_calls_seconds", tbig, "s")
                figures.add("big_vs_sequential_ratio", tbig / seq, "x", note="target <= 1.5")
                figures.add("calls_per_second", args.calls / tbig, "calls/s")
                results = doc["results"]
                answers = [r["time_to_answer"] for r in results if r["time_to_answer"]]
                passed = sum(1 for r in results if r["verdict"] == "pass")
                figures.add("passed", passed, f"of {args.calls}")
                if answers:
                    figures.add("time_to_answer_median_seconds", statistics.median(answers), "s")
                    figures.add("time_to_answer_p95_seconds", percentile(answers, 95), "s")
                figures.add("rooms_left_behind", len(sb.state()["rooms"]), "rooms")
                if passed != args.calls:
                    causes = sorted({r["cause"] for r in results if r["verdict"] != "pass"})
                    print(
                        f"warning: {args.calls - passed} calls did not pass: {causes[:5]}",
                        file=sys.stderr,
                    )
        finally:
            provider.stop()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calls", type=int, default=200, help="size of the big run")


if __name__ == "__main__":
    raise SystemExit(bench_main(__doc__, "check", measure, add_arguments))
