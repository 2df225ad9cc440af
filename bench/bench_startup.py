"""Benchmark: start-up of ``sipctl --help`` and ``sipctl validate``, as whole processes.

Each command runs ``--runs`` times (after one unmeasured warm-up run) as the user runs it:
the ``sipctl`` console script of this interpreter's environment (``python -m sipctl``
when it is not installed). The floor is ``python -c pass`` with the same interpreter:
what any Python CLI pays before its first line. ``validate`` loads the example config
(``config/``). ``help_heavy_modules`` counts the modules of the heavy dependencies
(livekit, protobuf, aiohttp, pydantic, yaml, deepdiff, ...) that ``--help`` imports: they
are deferred until a command needs them, so it should be 0.
Target: ``sipctl --help`` under 0.3 s.

Prints ``name: value unit`` lines and writes the same figures as JSON:

    python bench/bench_startup.py [--json bench/results/startup.json] [--runs 20]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, BenchError, Figures, Run, bench_main, env_for, run, run_interleaved

HELP_TARGET_S = 0.3
# Top-level packages that --help must not import.
HEAVY = frozenset(
    {
        "livekit",
        "google",
        "aiohttp",
        "pydantic",
        "pydantic_core",
        "yaml",
        "croniter",
        "prometheus_client",
        "jwt",
        "asyncio",
    }
)


def sipctl_command() -> list[str]:
    script = Path(sys.executable).parent / "sipctl"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "sipctl"]


def imported_modules(command: list[str], *args: str) -> list[str]:
    """The modules a Python command imports (``-X importtime`` on stderr)."""
    argv = [sys.executable, "-X", "importtime"]
    argv += command[1:] if command[0] == sys.executable else command
    res = run([*argv, *args], env_for())
    names = []
    for line in res.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.append(name)
    return names


def measure(args: argparse.Namespace, figures: Figures) -> None:
    env = env_for()
    sipctl = sipctl_command()
    config = REPO / "config"

    def expect(text: str) -> Callable[[Run], None]:
        def check(r: Run) -> None:
            if text not in r.stdout:
                raise BenchError(f"{r.argv}: expected {text!r} in:\n{r.stdout[-500:]}")

        return check

    stats = run_interleaved(
        {
            "floor": [sys.executable, "-c", "pass"],
            "help": [*sipctl, "--help"],
            "version": [*sipctl, "--version"],
            "validate": [*sipctl, "validate", "--config", str(config)],
        },
        env,
        runs=args.runs,
        check={"help": expect("Usage:"), "validate": expect("Configuration valid")},
    )
    floor, help_, version, validate = (
        stats["floor"],
        stats["help"],
        stats["version"],
        stats["validate"],
    )
    figures.add("python_floor_seconds", floor.median, "s", note="python -c pass")
    figures.add(
        "help_seconds", help_.median, "s", note=f"target < {HELP_TARGET_S}; p90 {help_.p90:.3f}"
    )
    figures.add("help_minus_floor_seconds", help_.median - floor.median, "s")
    figures.add("help_vs_floor", help_.median / floor.median, "x")
    figures.add("version_seconds", version.median, "s")
    figures.add("validate_seconds", validate.median, "s", note=f"p90 {validate.p90:.3f}")
    figures.add("validate_minus_floor_seconds", validate.median - floor.median, "s")
    figures.add("validate_vs_floor", validate.median / floor.median, "x")
    figures.add("help_peak_rss", help_.peak_rss_mb, "MB")
    figures.add("validate_peak_rss", validate.peak_rss_mb, "MB")
    mods = imported_modules(sipctl, "--help")
    heavy = sorted({m for m in mods if m.split(".")[0] in HEAVY})
    figures.add("help_modules_imported", len(mods), "modules")
    figures.add("help_heavy_modules", len(heavy), "modules", note="target 0")
    if heavy:
        print(f"warning: --help imports {', '.join(heavy[:10])}", file=sys.stderr)
    mods = imported_modules(sipctl, "validate", "--config", str(config))
    figures.add("validate_modules_imported", len(mods), "modules")
    figures.add("runs", args.runs, "runs per command", note="median reported")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=20, help="measured runs per command")


if __name__ == "__main__":
    raise SystemExit(bench_main(__doc__, "startup", measure, add_arguments))
