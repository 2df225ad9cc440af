"""Benchmark: apply throughput against a sequential loop of create calls.

``sipctl apply --auto-approve --no-verify --force`` creates 1,000 outbound trunks, then
updates all 1,000 (each run a whole process: start-up, config load, listing, plan, the
writes at the default parallelism of 8); the baseline is a loop that awaits
``create_outbound_trunk`` 1,000 times, one after the other. The sandbox adds
``--latency-ms`` to every request (default 20 ms, a typical round trip to LiveKit Cloud;
with 0 the loopback sandbox's own CPU is the bottleneck and concurrency cannot help).
Target: apply >= 5x the sequential loop.

Prints ``name: value unit`` lines and writes the same figures as JSON:

    python bench/bench_apply.py [--json bench/results/apply.json] [--n 1000] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    API_KEY,
    API_SECRET,
    BenchError,
    Figures,
    bench_main,
    env_for,
    run,
    sipctl_argv,
    start_sandbox,
)

PASSWORD = "bench-trunk-password"


async def sequential(url: str, n: int) -> float:
    from livekit import api

    lk = api.LiveKitAPI(url, API_KEY, API_SECRET)
    try:
        t0 = time.monotonic()
        for i in range(n):
            await lk.sip.create_outbound_trunk(
                api.CreateSIPOutboundTrunkRequest(
                    trunk=api.SIPOutboundTrunkInfo(
                        name=f"seq-{i:05d}",
                        address="sip.example.com",
                        numbers=[f"+1555{i:07d}"],
                        auth_username="user",
                        auth_password=PASSWORD,
                    )
                )
            )
        return time.monotonic() - t0
    finally:
        await lk.aclose()


def write_config(directory: Path, n: int, address: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["outbound_trunks:"]
    for i in range(n):
        lines += [
            f"  trunk-{i:05d}:",
            f"    address: {address}",
            f'    numbers: ["+1555{i:07d}"]',
            '    auth: {username: user, password: "${BENCH_PASSWORD}"}',
        ]
    (directory / "trunks.yaml").write_text("\n".join(lines) + "\n")
    return directory


def apply(config: Path, env: dict[str, str], n: int) -> float:
    argv = sipctl_argv("apply", "--config", str(config), "--auto-approve", "--no-verify", "--force")
    res = run(argv, env)
    expected = f"Apply complete: {n} applied, 0 failed, 0 not attempted."
    if expected not in res.stdout:
        raise BenchError(f"apply did not complete:\n{res.stdout[-2000:]}\n{res.stderr}")
    return res.wall


def measure(args: argparse.Namespace, figures: Figures) -> None:
    n = args.n
    with tempfile.TemporaryDirectory(prefix="sipctl-bench-apply-") as tmp:
        work = Path(tmp)
        with start_sandbox(work / "sandbox", latency_ms=args.latency_ms) as sb:
            env = env_for(sb, BENCH_PASSWORD=PASSWORD)
            seq = asyncio.run(sequential(sb.url, n))
            sb.reset()
            # a reset also clears the faults: put the latency back
            sb.set_faults(latency_ms=args.latency_ms)
            created = apply(write_config(work / "config", n, "sip.example.com"), env, n)
            updated = apply(write_config(work / "config", n, "sip2.example.com"), env, n)
    figures.add("latency_ms", args.latency_ms, "ms per request", note="sandbox")
    figures.add(f"sequential_{n}_creates_seconds", seq, "s")
    figures.add("sequential_changes_per_second", n / seq, "changes/s")
    figures.add(f"apply_{n}_creates_seconds", created, "s", note="whole process")
    figures.add("apply_creates_per_second", n / created, "changes/s")
    figures.add(f"apply_{n}_updates_seconds", updated, "s", note="whole process")
    figures.add("apply_updates_per_second", n / updated, "changes/s")
    figures.add("apply_creates_vs_sequential", seq / created, "x", note="target >= 5")
    figures.add("apply_updates_vs_sequential", seq / updated, "x", note="target >= 5")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=20.0)


if __name__ == "__main__":
    raise SystemExit(bench_main(__doc__, "apply", measure, add_arguments))
