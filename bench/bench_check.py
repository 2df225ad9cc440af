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
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sipctl.sandbox.provider import NUMBERS, Provider, missing_binaries  # noqa: E402

API_KEY = "devkey"
API_SECRET = "bench-secret-0123456789abcdef0123456789"
PARALLELISM = 50
HOLD = "1s"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_sandbox(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = open(workdir / "sandbox.log", "wb")  # noqa: SIM115  (lives as long as the server)
    argv = [sys.executable, "-m", "sipctl.sandbox", "--port", str(port)]
    argv += ["--api-key", API_KEY, "--api-secret", API_SECRET]
    proc = subprocess.Popen(
        argv,
        cwd=workdir,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"sandbox did not start; see {workdir / 'sandbox.log'}")


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


def run_check(config: Path, url: str, out: Path) -> tuple[float, dict[str, Any]]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "LIVEKIT_URL": url,
        "LIVEKIT_API_KEY": API_KEY,
        "LIVEKIT_API_SECRET": API_SECRET,
        "BENCH_TRUNK_PASSWORD": "trunkpass",
        "GITHUB_STEP_SUMMARY": "",
    }
    argv = [sys.executable, "-m", "sipctl", "check", "--config", str(config)]
    argv += ["--parallelism", str(PARALLELISM), "--format", "json", "--output", str(out)]
    t0 = time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"sipctl check exited {proc.returncode}:\n{proc.stderr}\n{proc.stdout}")
    doc: dict[str, Any] = json.loads(out.read_text())
    return elapsed, doc


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "check.json")
    parser.add_argument("--calls", type=int, default=200, help="size of the big run")
    args = parser.parse_args()
    if missing_binaries():
        print(f"skipped: needs {', '.join(missing_binaries())}", file=sys.stderr)
        return 0
    rounds = max(1, args.calls // PARALLELISM)
    with tempfile.TemporaryDirectory(prefix="sipctl-bench-") as tmp:
        work = Path(tmp)
        sandbox, url = start_sandbox(work)
        provider = Provider(work / "provider").start()
        try:
            asyncio.run(create_trunk(url, provider.address))
            figures: dict[str, tuple[float, str]] = {}
            t1, _ = run_check(write_config(work / "c1", provider.address, 1), url, work / "1.json")
            figures["check_1_call_seconds"] = (t1, "s")
            cfg50 = write_config(work / "c50", provider.address, PARALLELISM)
            t50, _ = run_check(cfg50, url, work / "50.json")
            figures[f"check_{PARALLELISM}_calls_seconds"] = (t50, "s")
            seq = 0.0
            for i in range(rounds):
                t, _ = run_check(cfg50, url, work / f"round{i}.json")
                seq += t
            figures[f"check_{rounds}x{PARALLELISM}_sequential_seconds"] = (seq, "s")
            big_cfg = write_config(work / "big", provider.address, args.calls)
            tbig, doc = run_check(big_cfg, url, work / "big.json")
            figures[f"check_{args.calls}_calls_seconds"] = (tbig, "s")
            figures["big_vs_sequential_ratio"] = (tbig / seq, "x (target <= 1.5)")
            figures["calls_per_second"] = (args.calls / tbig, "calls/s")
            answers = [r["time_to_answer"] for r in doc["results"] if r["time_to_answer"]]
            passed = sum(1 for r in doc["results"] if r["verdict"] == "pass")
            figures["passed"] = (float(passed), f"of {args.calls}")
            if answers:
                figures["time_to_answer_median_seconds"] = (statistics.median(answers), "s")
                figures["time_to_answer_p95_seconds"] = (percentile(answers, 95), "s")
            left = len(json.loads(_state(url))["rooms"])
            figures["rooms_left_behind"] = (float(left), "rooms")
        finally:
            provider.stop()
            sandbox.terminate()
            sandbox.wait(10)
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


def _state(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(f"{url}/_sandbox/state", timeout=5) as resp:
        return str(resp.read().decode())


if __name__ == "__main__":
    raise SystemExit(main())
