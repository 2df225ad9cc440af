"""bench/bench_plan.py seeds LiveKit as sipctl would have (the ownership marker, the password
fingerprint): a small run of its seeding and config must plan exactly its changed trunks,
so a change of the marker cannot leave the benchmark measuring something else."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from bench.bench_plan import PASSWORD, seed, write_config
from bench.common import API_KEY, API_SECRET
from tests.fixtures.sandbox import SandboxFactory


def test_bench_seed_and_config_plan_only_the_changed_trunks(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    sb = sandbox_factory(api_key=API_KEY, api_secret=API_SECRET)
    asyncio.run(seed(sb.url, 20))
    cfg = write_config(tmp_path / "config", 20, changed=2)
    env = {**sb.env, "BENCH_PASSWORD": PASSWORD}
    proc = subprocess.run(
        [sys.executable, "-m", "sipctl", "plan", "--config", str(cfg)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "Plan: 0 to create, 2 to update, 0 to delete."
