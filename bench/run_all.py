"""Run every ``bench/bench_*.py`` in turn (``./dev bench``); each prints its figures as
``name: value unit`` lines and writes them as JSON under ``bench/results/``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        name = script.stem.removeprefix("bench_")
        print(f"== {name}", flush=True)
        argv = [sys.executable, str(script), "--json", str(HERE / "results" / f"{name}.json")]
        if subprocess.run(argv + sys.argv[1:]).returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
