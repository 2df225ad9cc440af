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
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_plan import API_KEY, API_SECRET, free_port  # noqa: E402

PASSWORD = "bench-trunk-password"


def start_sandbox(workdir: Path, latency_ms: float) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    port = free_port()
    log = open(workdir / "sandbox.log", "wb")  # noqa: SIM115  (lives as long as the server)
    argv = [sys.executable, "-m", "sipctl.sandbox", "--port", str(port)]
    argv += ["--api-key", API_KEY, "--api-secret", API_SECRET, "--latency-ms", str(latency_ms)]
    proc = subprocess.Popen(
        argv,
        cwd=workdir,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"sandbox did not start; see {workdir / 'sandbox.log'}")


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


def admin(url: str, path: str, body: object) -> None:
    req = urllib.request.Request(
        f"{url}/_sandbox/{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(req, timeout=10).close()


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
    argv = [sys.executable, "-m", "sipctl", "apply", "--config", str(config)]
    argv += ["--auto-approve", "--no-verify", "--force"]
    t0 = time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    expected = f"Apply complete: {n} applied, 0 failed, 0 not attempted."
    if proc.returncode != 0 or expected not in proc.stdout:
        raise SystemExit(f"apply failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr}")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "apply.json")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()
    n = args.n
    figures: dict[str, tuple[float, str]] = {}
    with tempfile.TemporaryDirectory(prefix="sipctl-bench-apply-") as tmp:
        work = Path(tmp)
        sandbox, url = start_sandbox(work, args.latency_ms)
        try:
            env = {
                **os.environ,
                "PYTHONPATH": str(REPO),
                "LIVEKIT_URL": url,
                "LIVEKIT_API_KEY": API_KEY,
                "LIVEKIT_API_SECRET": API_SECRET,
                "BENCH_PASSWORD": PASSWORD,
            }
            seq = asyncio.run(sequential(url, n))
            admin(url, "reset", {})
            # a reset also clears the faults: put the latency back
            admin(url, "faults", {"latency_ms": args.latency_ms})
            created = apply(write_config(work / "config", n, "sip.example.com"), env, n)
            updated = apply(write_config(work / "config", n, "sip2.example.com"), env, n)
        finally:
            sandbox.terminate()
            sandbox.wait(10)
    figures["latency_ms"] = (args.latency_ms, "ms per request (sandbox)")
    figures[f"sequential_{n}_creates_seconds"] = (seq, "s")
    figures["sequential_changes_per_second"] = (n / seq, "changes/s")
    figures[f"apply_{n}_creates_seconds"] = (created, "s (whole process)")
    figures["apply_creates_per_second"] = (n / created, "changes/s")
    figures[f"apply_{n}_updates_seconds"] = (updated, "s (whole process)")
    figures["apply_updates_per_second"] = (n / updated, "changes/s")
    figures["apply_creates_vs_sequential"] = (seq / created, "x (target >= 5)")
    figures["apply_updates_vs_sequential"] = (seq / updated, "x (target >= 5)")
    for name, (value, unit) in figures.items():
        print(f"{name}: {value:.3f} {unit}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {name: {"value": round(v, 4), "unit": u} for name, (v, u) in figures.items()},
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
