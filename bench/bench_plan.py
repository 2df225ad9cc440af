"""Benchmark: ``sipctl plan`` at scale against its floor.

For 100, 1,000 and 10,000 outbound trunks, live in the sandbox (managed by sipctl) and
declared in the config with 1 % of them changed, it times ``sipctl plan`` as a whole
process (start-up, config load, listing, diff, output) against the floor: a minimal
script that only lists the same trunks with livekit-api. Median of ``--runs`` runs each.
Targets: plan/floor <= 1.5 at 1k and 10k; plan at 1k < 1 s; peak RSS < 200 MB at 10k.
``validate_N_seconds`` (``sipctl validate``: start-up and config load alone) shows how much
of the plan's time is the YAML config rather than LiveKit, mapping and diff.

Prints ``name: value unit`` lines and writes the same figures as JSON:

    python bench/bench_plan.py [--json bench/results/plan.json] [--sizes 100,1000,10000]
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

API_KEY = "devkey"
API_SECRET = "bench-secret-0123456789abcdef0123456789"
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


def trunk_name(i: int) -> str:
    return f"trunk-{i:05d}"


def number(i: int) -> str:
    return f"+1555{i:07d}"


async def seed(url: str, n: int) -> None:
    """Create ``n`` managed trunks (as sipctl would have: marker with fingerprint)."""
    from livekit import api

    from sipctl.ownership import Marker, render_metadata
    from sipctl.plan import fingerprint

    meta = render_metadata({}, Marker(auth_fingerprint=fingerprint(PASSWORD, API_SECRET)))
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


def run_measured(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB, stdout) of one process; wait4 gives its own peak RSS."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 2):
        raise SystemExit(f"{argv} exited {proc.returncode}:\n{err.decode()}")
    return wall, usage.ru_maxrss / 1024, out.decode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "plan.json")
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    figures: dict[str, tuple[float, str]] = {}
    with tempfile.TemporaryDirectory(prefix="sipctl-bench-plan-") as tmp:
        work = Path(tmp)
        for n in sizes:
            sandbox, url = start_sandbox(work)
            try:
                t0 = time.monotonic()
                asyncio.run(seed(url, n))
                seed_s = time.monotonic() - t0
                changed = max(1, n // 100)
                cfg = write_config(work / f"config-{n}", n, changed)
                env = {
                    **os.environ,
                    "PYTHONPATH": str(REPO),
                    "LIVEKIT_URL": url,
                    "LIVEKIT_API_KEY": API_KEY,
                    "LIVEKIT_API_SECRET": API_SECRET,
                    "BENCH_PASSWORD": PASSWORD,
                }
                plan_argv = [sys.executable, "-m", "sipctl", "plan", "--config", str(cfg)]
                validate_argv = [sys.executable, "-m", "sipctl", "validate", "--config", str(cfg)]
                floor_argv = [sys.executable, "-c", FLOOR]
                plans, floors, rss, validates = [], [], [], []
                for _ in range(args.runs):
                    wall, peak, out = run_measured(plan_argv, env)
                    last = out.strip().splitlines()[-1]
                    expected = f"Plan: 0 to create, {changed} to update, 0 to delete."
                    if last != expected:
                        raise SystemExit(f"unexpected plan at {n}: {last!r}")
                    plans.append(wall)
                    rss.append(peak)
                    wall, _, out = run_measured(floor_argv, env)
                    assert int(out) == n, out
                    floors.append(wall)
                    validates.append(run_measured(validate_argv, env)[0])
                plan_s, floor_s = statistics.median(plans), statistics.median(floors)
                figures[f"seed_{n}_trunks_seconds"] = (seed_s, "s")
                figures[f"plan_{n}_seconds"] = (plan_s, "s")
                figures[f"floor_{n}_seconds"] = (floor_s, "s")
                target = " (target <= 1.5)" if n >= 1000 else ""
                figures[f"plan_vs_floor_{n}"] = (plan_s / floor_s, "x" + target)
                # where the rest goes: loading the YAML config alone (sipctl validate)
                validate_s = statistics.median(validates)
                figures[f"validate_{n}_seconds"] = (validate_s, "s (config load alone)")
                figures[f"plan_minus_config_load_vs_floor_{n}"] = (
                    (plan_s - validate_s) / floor_s,
                    "x",
                )
                figures[f"plan_{n}_peak_rss"] = (
                    max(rss),
                    "MB" + (" (target < 200)" if n >= 10000 else ""),
                )
            finally:
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


if __name__ == "__main__":
    raise SystemExit(main())
