"""Benchmark: ``sipctl plan`` at scale against its floor.

For 100, 1,000 and 10,000 outbound trunks, live in the sandbox (managed by sipctl) and
declared in the config with 1 % of them changed, it times ``sipctl plan`` as a whole
process (start-up, config load, listing, diff, output) against the floor: a minimal
script that only lists the same trunks with livekit-api. Median of ``--runs`` runs each.
Targets: plan/floor <= 1.5 at 1k, as close to 1.5 as possible at 10k (at most 2); peak
RSS < 200 MB at 10k.
``validate_N_seconds`` (``sipctl validate``: start-up and config load alone) shows how much
of the plan's time is the YAML config rather than LiveKit, mapping and diff.

Prints ``name: value unit`` lines and writes the same figures as JSON:

    python bench/bench_plan.py [--json bench/results/plan.json] [--sizes 100,1000,10000]
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
    Run,
    bench_main,
    env_for,
    run_interleaved,
    sipctl_argv,
    start_sandbox,
)

PASSWORD = "bench-trunk-password"

FLOOR = """
import asyncio, os
from livekit import api

async def main():
    lk = api.LiveKitAPI(os.environ["LIVEKIT_URL"], os.environ["LIVEKIT_API_KEY"],
                        os.environ["LIVEKIT_API_SECRET"])
    try:
        resp = await lk.sip.list_outbound_trunk(api.ListSIPOutboundTrunkRequest())
        print(len(resp.items))
    finally:
        await lk.aclose()

asyncio.run(main())
"""


def trunk_name(i: int) -> str:
    return f"trunk-{i:05d}"


def number(i: int) -> str:
    return f"+1555{i:07d}"


async def seed(url: str, n: int) -> None:
    """Create ``n`` managed trunks (as sipctl would have: marker with fingerprint)."""
    from livekit import api

    from sipctl.ownership import Marker, render_metadata
    from sipctl.secrets import fingerprint

    fp = fingerprint(PASSWORD, b"bench-slt")  # a marker as sipctl writes it (salted)
    meta = render_metadata({}, Marker(auth_fingerprint=fp))
    lk = api.LiveKitAPI(url, API_KEY, API_SECRET)
    sem = asyncio.Semaphore(32)

    async def one(i: int) -> None:
        async with sem:
            await lk.sip.create_outbound_trunk(
                api.CreateSIPOutboundTrunkRequest(
                    trunk=api.SIPOutboundTrunkInfo(
                        name=trunk_name(i),
                        address=f"sip{i % 50}.example.com",
                        transport=api.SIPTransport.SIP_TRANSPORT_UDP,
                        numbers=[number(i)],
                        auth_username="user",
                        auth_password=PASSWORD,
                        metadata=meta,
                    )
                )
            )

    try:
        await asyncio.gather(*(one(i) for i in range(n)))
    finally:
        await lk.aclose()


def write_config(directory: Path, n: int, changed: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["outbound_trunks:"]
    for i in range(n):
        address = "changed.example.com" if i < changed else f"sip{i % 50}.example.com"
        lines += [
            f"  {trunk_name(i)}:",
            f"    address: {address}",
            "    transport: udp",
            f'    numbers: ["{number(i)}"]',
            '    auth: {username: user, password: "${BENCH_PASSWORD}"}',
        ]
    lines += ["settings:", "  max_update_percent: 100"]
    (directory / "trunks.yaml").write_text("\n".join(lines) + "\n")
    return directory


def measure(args: argparse.Namespace, figures: Figures) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="sipctl-bench-plan-") as tmp:
        work = Path(tmp)
        for n in sizes:
            with start_sandbox(work / f"sandbox-{n}") as sb:
                t0 = time.monotonic()
                asyncio.run(seed(sb.url, n))
                seed_s = time.monotonic() - t0
                changed = max(1, n // 100)
                cfg = str(write_config(work / f"config-{n}", n, changed))
                expected = f"Plan: 0 to create, {changed} to update, 0 to delete."

                def plan_ok(r: Run, expected: str = expected, n: int = n) -> None:
                    last = r.stdout.strip().splitlines()[-1]
                    if last != expected:
                        raise BenchError(f"unexpected plan at {n}: {last!r}")

                def floor_ok(r: Run, n: int = n) -> None:
                    if int(r.stdout) != n:
                        raise BenchError(f"the floor listed {r.stdout.strip()} trunks, not {n}")

                stats = run_interleaved(
                    {
                        "plan": sipctl_argv("plan", "--config", cfg),
                        "floor": [sys.executable, "-c", FLOOR],
                        "validate": sipctl_argv("validate", "--config", cfg),
                    },
                    env_for(sb, BENCH_PASSWORD=PASSWORD),
                    runs=args.runs,
                    warmup=0,
                    check={"plan": plan_ok, "floor": floor_ok},
                )
            plan_s, floor_s = stats["plan"].median, stats["floor"].median
            figures.add(f"seed_{n}_trunks_seconds", seed_s, "s")
            figures.add(f"plan_{n}_seconds", plan_s, "s")
            figures.add(f"floor_{n}_seconds", floor_s, "s")
            target = {1000: "target <= 1.5", 10000: "target <= 1.5, at most 2"}.get(n, "")
            figures.add(f"plan_vs_floor_{n}", plan_s / floor_s, "x", note=target)
            # CPU time (user + system) of the same runs: on a shared machine, wall time also
            # counts waiting for a core, which lengthens the longer process more
            cpu_plan, cpu_floor = stats["plan"].cpu_median, stats["floor"].cpu_median
            if cpu_floor > 0:
                figures.add(f"plan_vs_floor_cpu_{n}", cpu_plan / cpu_floor, "x", note="CPU time")
            # where the rest goes: loading the YAML config alone (sipctl validate)
            validate_s = stats["validate"].median
            figures.add(f"validate_{n}_seconds", validate_s, "s", note="config load alone")
            figures.add(
                f"plan_minus_config_load_vs_floor_{n}", (plan_s - validate_s) / floor_s, "x"
            )
            figures.add(
                f"plan_{n}_peak_rss",
                stats["plan"].peak_rss_mb,
                "MB",
                note="target < 200" if n >= 10000 else "",
            )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--runs", type=int, default=3)


if __name__ == "__main__":
    raise SystemExit(bench_main(__doc__, "plan", measure, add_arguments))
