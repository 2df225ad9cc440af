"""Benchmark: the sandbox's capacity, so that it is known not to be what figures 1-3 measure.

Against a sandbox on loopback (memory only, no injected latency), through livekit-api as
sipctl calls it, with ``--concurrency`` requests in flight (one client session):

- ``ListSIPOutboundTrunk`` with ``--trunks`` (1,000) trunks stored: requests/s, median
  latency, trunks/s;
- ``CreateSIPOutboundTrunk``: requests/s.

Each measurement is bounded in count (``--list-requests``, ``--create-requests``) and time
(``--seconds``). The client shares the machine with the server, so requests/s is a lower
bound of the server's capacity; the server's own CPU time per request (from /proc) gives
its capacity on one core alone (``*_server_capacity``).

When the other benches' results of the same run sit beside this one's JSON, it adds the
comparisons: the sandbox's share of ``sipctl plan`` at 1,000 trunks, and its create
capacity against the rate ``sipctl apply`` reached (figures 1 and 2). Figure 3 (check) is
bound by SIP calls, which these requests do not measure.

Prints ``name: value unit`` lines and writes the same figures as JSON:

    python bench/bench_sandbox.py [--json bench/results/sandbox.json] [--trunks 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    API_KEY,
    API_SECRET,
    BenchError,
    Figures,
    bench_main,
    load_figures,
    start_sandbox,
)


@dataclass
class Throughput:
    requests: int
    seconds: float
    latencies: list[float]
    server_cpu: float  # seconds of the server's CPU during the measurement

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def server_cpu_ms(self) -> float:
        return self.server_cpu / self.requests * 1000


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (0 where there is no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


async def hammer(
    send: Callable[[int], Awaitable[Any]],
    *,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
    server_pid: int,
) -> Throughput:
    """``concurrency`` workers call ``send(i)`` until ``max_requests`` or ``max_seconds``."""
    latencies: list[float] = []
    counter = iter(range(max_requests))
    cpu0 = cpu_seconds(server_pid)
    t0 = time.perf_counter()
    deadline = t0 + max_seconds

    async def worker() -> None:
        for i in counter:
            if time.perf_counter() > deadline:
                return
            start = time.perf_counter()
            await send(i)
            latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return Throughput(len(latencies), elapsed, latencies, cpu_seconds(server_pid) - cpu0)


def trunk(name: str, i: int) -> Any:
    from livekit import api

    return api.SIPOutboundTrunkInfo(
        name=name,
        address=f"sip{i % 50}.example.com",
        numbers=[f"+1555{i:07d}"],
        auth_username="user",
        auth_password="bench-password",
        metadata='{"sipctl":{"v":1}}',
    )


async def measure_async(args: argparse.Namespace, figures: Figures, url: str, pid: int) -> None:
    from livekit import api

    levels = [int(c) for c in args.concurrency.split(",")]
    lk = api.LiveKitAPI(url, API_KEY, API_SECRET)
    try:
        # seed the trunks the lists return (not measured)
        sem = asyncio.Semaphore(32)

        async def seed(i: int) -> None:
            async with sem:
                req = api.CreateSIPOutboundTrunkRequest(trunk=trunk(f"seed-{i:05d}", i))
                await lk.sip.create_outbound_trunk(req)

        await asyncio.gather(*(seed(i) for i in range(args.trunks)))

        async def list_all(_: int) -> None:
            resp = await lk.sip.list_outbound_trunk(api.ListSIPOutboundTrunkRequest())
            if len(resp.items) != args.trunks:
                raise BenchError(f"listed {len(resp.items)} trunks, expected {args.trunks}")

        n = args.trunks
        for c in levels:
            t = await hammer(
                list_all,
                concurrency=c,
                max_requests=args.list_requests,
                max_seconds=args.seconds,
                server_pid=pid,
            )
            figures.add(f"list_{n}_c{c}_requests_per_second", t.per_second, "req/s")
            figures.add(f"list_{n}_c{c}_median_ms", t.median_ms, "ms")
            figures.add(f"list_{n}_c{c}_trunks_per_second", t.per_second * n, "trunks/s")
            figures.add(f"list_{n}_c{c}_server_cpu_ms", t.server_cpu_ms, "ms CPU per request")
            if t.server_cpu:
                figures.add(
                    f"list_{n}_server_capacity_c{c}", 1000 / t.server_cpu_ms, "req/s on one core"
                )

        created = 0
        for c in levels:
            base = created

            async def create(i: int, base: int = base) -> None:
                req = api.CreateSIPOutboundTrunkRequest(trunk=trunk(f"new-{base + i:06d}", i))
                await lk.sip.create_outbound_trunk(req)

            t = await hammer(
                create,
                concurrency=c,
                max_requests=args.create_requests,
                max_seconds=args.seconds,
                server_pid=pid,
            )
            created += t.requests
            figures.add(f"create_c{c}_requests_per_second", t.per_second, "req/s")
            figures.add(f"create_c{c}_median_ms", t.median_ms, "ms")
            figures.add(f"create_c{c}_server_cpu_ms", t.server_cpu_ms, "ms CPU per request")
            if t.server_cpu:
                figures.add(
                    f"create_server_capacity_c{c}", 1000 / t.server_cpu_ms, "req/s on one core"
                )
        figures.add("requests_measured", created, "creates", note="plus the lists")
    finally:
        await lk.aclose()


def compare(args: argparse.Namespace, figures: Figures) -> None:
    """Set the capacity beside what the plan and apply benches of this run reached."""
    results = args.json.parent
    plan = load_figures(results / "plan.json")
    apply = load_figures(results / "apply.json")
    n = args.trunks
    list_ms = f"list_{n}_c1_median_ms"
    if f"plan_{n}_seconds" in plan and list_ms in figures:
        share = figures[list_ms] / 1000 / plan[f"plan_{n}_seconds"]
        figures.add(f"sandbox_share_of_plan_{n}", share, f"of plan_{n}_seconds", note="plan.json")
    best = max(
        (figures[k] for k in figures.items if k.startswith("create_c") and "per_second" in k),
        default=0.0,
    )
    for key in ("apply_creates_per_second", "apply_updates_per_second"):
        if key in apply and best:
            figures.add(f"create_capacity_vs_{key}", best / apply[key], "x", note="apply.json")


def measure(args: argparse.Namespace, figures: Figures) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="sipctl-bench-sandbox-") as tmp,
        start_sandbox(Path(tmp)) as sb,
    ):
        assert sb.process is not None
        asyncio.run(measure_async(args, figures, sb.url, sb.process.pid))
    compare(args, figures)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trunks", type=int, default=1000, help="trunks stored for the lists")
    parser.add_argument("--concurrency", default="1,8,32", help="requests in flight")
    parser.add_argument("--list-requests", type=int, default=300)
    parser.add_argument("--create-requests", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=4.0, help="time bound per measurement")


if __name__ == "__main__":
    raise SystemExit(bench_main(__doc__, "sandbox", measure, add_arguments))
