"""bench/bench_secrets.py seeds LiveKit as sipctl's create would have (salted fingerprint in
the marker, a password per trunk): a small run of its seeding and config against a masking
sandbox must plan exactly its rotated passwords, so a change of the marker format cannot
leave the benchmark measuring something else (a plan of nothing but changes, say)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from bench.bench_secrets import passwords_env, seed, write_config
from bench.common import API_KEY, API_SECRET
from tests.fixtures.sandbox import SandboxFactory


def test_bench_seed_and_config_plan_only_the_rotated_passwords(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    sb = sandbox_factory(api_key=API_KEY, api_secret=API_SECRET, mask_secrets=True)
    asyncio.run(seed(sb.url, 20))
    cfg = write_config(tmp_path / "config", 20)
    proc = subprocess.run(
        [sys.executable, "-m", "sipctl", "plan", "--config", str(cfg)],
        capture_output=True,
        text=True,
        env={**os.environ, **sb.env, **passwords_env(20, 2)},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "Plan: 0 to create, 2 to update, 0 to delete."
    assert sum("auth.password: (sensitive value) -> (sensitive value)" in x for x in lines) == 2
