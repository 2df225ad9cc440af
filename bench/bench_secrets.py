"""Benchmark: password fingerprints (salted scrypt) and ``sipctl plan`` on a server that
hides passwords.

Against ``sipctl sandbox --mask-secrets`` (as LiveKit Cloud answers: every password empty),
a plan compares each declared password with the fingerprint in the trunk's marker: one
scrypt derivation per trunk (one salt per resource), run on a few threads. This bench:

- times one derivation with the chosen parameters (``sipctl.secrets``), alone and when
  several run at once on threads (hashlib.scrypt releases the GIL), and the candidates
  around them (N = 2^11 .. 2^14, r = 8), to show what the choice costs;
- seeds N outbound trunks, each with its own password, marked as sipctl's create marks
  them (owner, salted fingerprint), with 1 % of the passwords changed in the config;
- times ``sipctl plan`` as a whole process against the masking sandbox, and the same
  plan against a sandbox that returns passwords (no derivation needed: the floor).

Target: ``plan_1000_password_trunks`` < 5 s. Prints ``name: value unit`` lines and writes
the same figures as JSON:

    python bench/bench_secrets.py [--json bench/results/secrets.json] [--trunks 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_plan import number, trunk_name
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


def password(i: int) -> str:
    return f"bench-Pa55-{i:05d}-{hashlib.sha256(str(i).encode()).hexdigest()[:8]}"


def variable(i: int) -> str:
    return f"BENCH_PW_{i:05d}"


def markers(n: int) -> list[str]:
    """The metadata sipctl's create writes for each trunk (its marker, random salt each)."""
    from sipctl.ownership import Marker, render_metadata
    from sipctl.secrets import fingerprint, prefetch, salt_for

    pairs = [
        (password(i), salt_for(None, None, f"outbound_trunk/{trunk_name(i)}")) for i in range(n)
    ]
    prefetch(pairs)
    return [render_metadata({}, Marker(auth_fingerprint=fingerprint(*p))) for p in pairs]


async def seed(url: str, n: int) -> None:
    """Create ``n`` managed outbound trunks, each with its own password."""
    from livekit import api

    metas = markers(n)
    lk = api.LiveKitAPI(url, API_KEY, API_SECRET)
    sem = asyncio.Semaphore(32)

    async def one(i: int) -> None:
        async with sem:
            await lk.sip.create_outbound_trunk(
                api.CreateSIPOutboundTrunkRequest(
                    trunk=api.SIPOutboundTrunkInfo(
                        name=trunk_name(i),
                        address="sip.example.com",
                        transport=api.SIPTransport.SIP_TRANSPORT_UDP,
                        numbers=[number(i)],
                        auth_username="user",
                        auth_password=password(i),
                        metadata=metas[i],
                    )
                )
            )

    try:
        await asyncio.gather(*(one(i) for i in range(n)))
    finally:
        await lk.aclose()


def write_config(directory: Path, n: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["outbound_trunks:"]
    for i in range(n):
        lines += [
            f"  {trunk_name(i)}:",
            "    address: sip.example.com",
            "    transport: udp",
            f'    numbers: ["{number(i)}"]',
            f'    auth: {{username: user, password: "${{{variable(i)}}}"}}',
        ]
    lines += ["settings:", "  max_update_percent: 100"]
    (directory / "trunks.yaml").write_text("\n".join(lines) + "\n")
    return directory


def passwords_env(n: int, changed: int) -> dict[str, str]:
    """The environment the config reads: the first ``changed`` passwords rotated."""
    return {variable(i): password(i) + ("-rotated" if i < changed else "") for i in range(n)}


def derivation_ms(n_cost: int, r: int, count: int) -> float:
    t0 = time.perf_counter()
    for _ in range(count):
        hashlib.scrypt(
            b"bench", salt=os.urandom(9), n=n_cost, r=r, p=1, dklen=9, maxmem=256 * r * n_cost
        )
    return (time.perf_counter() - t0) / count * 1000


def measure_derivations(figures: Figures) -> None:
    from sipctl import secrets

    ms = [derivation_ms(secrets.SCRYPT_N, secrets.SCRYPT_R, 20) for _ in range(3)]
    figures.add("scrypt_derivation_ms", statistics.median(ms), "ms", note="one, the chosen N, r")
    pairs = [(f"pw-{i}", os.urandom(secrets.SALT_BYTES)) for i in range(200)]
    t0 = time.perf_counter()
    secrets.prefetch(pairs)
    wall = (time.perf_counter() - t0) / len(pairs) * 1000
    figures.add("scrypt_derivation_threaded_ms", wall, "ms", note=f"wall, {os.cpu_count()} cores")
    for log_n in (11, 12, 13, 14):
        figures.add(f"scrypt_n2e{log_n}_r8_ms", derivation_ms(2**log_n, 8, 10), "ms")


def measure(args: argparse.Namespace, figures: Figures) -> None:
    measure_derivations(figures)
    n = args.trunks
    changed = max(1, n // 100)
    expected = f"Plan: 0 to create, {changed} to update, 0 to delete."

    def plan_ok(r: Run) -> None:
        last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr
        if last != expected:
            raise BenchError(f"unexpected plan of {n} trunks: {last!r}")

    with tempfile.TemporaryDirectory(prefix="sipctl-bench-secrets-") as tmp:
        work = Path(tmp)
        cfg = str(write_config(work / "config", n))
        argv = sipctl_argv("plan", "--config", cfg)
        for label, extra in (("", ["--mask-secrets"]), ("_returned", [])):
            with start_sandbox(work / f"sandbox{label}", extra_args=extra) as sb:
                t0 = time.monotonic()
                asyncio.run(seed(sb.url, n))
                if not label:
                    figures.add(f"seed_{n}_trunks_seconds", time.monotonic() - t0, "s")
                stats = run_interleaved(
                    {"plan": argv},
                    env_for(sb, **passwords_env(n, changed)),
                    runs=args.runs,
                    check={"plan": plan_ok},
                )
            what = "target < 5" if not label else "server returns passwords: no scrypt"
            figures.add(f"plan_{n}_password_trunks{label}", stats["plan"].median, "s", note=what)
            figures.add(
                f"plan_{n}_password_trunks{label}_cpu", stats["plan"].cpu_median, "s", note="CPU"
            )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trunks", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)


if __name__ == "__main__":
    raise SystemExit(bench_main(__doc__, "secrets", measure, add_arguments))
