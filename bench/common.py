"""Helpers every benchmark under ``bench/`` shares.

- :func:`start_sandbox`: a :class:`~sipctl.sandbox.process.SandboxProcess` on a free
  loopback port (memory only, the bench key and secret, optional latency);
- :func:`start_provider`: a Kamailio + SIPp :class:`~sipctl.sandbox.provider.Provider`,
  or :class:`Skip` when the binaries are missing;
- :func:`run`: one whole process, timed (wall seconds) with its own peak RSS (from
  ``wait4``), its output kept; :func:`run_median` repeats it, :func:`run_interleaved`
  repeats several commands taking turns (fair ratios on a noisy machine);
- :class:`Figures`: ``name: value unit`` lines on stdout and the same as JSON;
- :func:`bench_main`: the command line every bench shares (``--json PATH``), turning
  :class:`Skip` into a note and :class:`BenchError` into exit 1.

A bench script is::

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.common import Figures, bench_main  # noqa: E402

    def measure(args, figures):
        figures.add("x_seconds", 1.23, "s")

    if __name__ == "__main__":
        raise SystemExit(bench_main(__doc__, "x", measure))
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

if TYPE_CHECKING:
    from sipctl.sandbox.process import SandboxProcess
    from sipctl.sandbox.provider import Provider

API_KEY = "devkey"
# 32+ bytes: PyJWT warns about shorter HMAC keys.
API_SECRET = "bench-secret-0123456789abcdef0123456789"


class Skip(Exception):
    """The bench cannot run here (a missing program); not a failure."""


class BenchError(Exception):
    """A measured command did not do what the bench expects."""


# --- servers ---------------------------------------------------------------------------


def start_sandbox(
    workdir: Path,
    *,
    latency_ms: float = 0.0,
    persist: bool = False,
    extra_args: Sequence[str] = (),
) -> SandboxProcess:
    """A started sandbox (memory only unless ``persist``); stop it with ``.stop()`` or use
    it as a context manager."""
    from sipctl.sandbox.process import SandboxProcess

    args = list(extra_args)
    if latency_ms:
        args += ["--latency-ms", str(latency_ms)]
    sb = SandboxProcess(
        workdir, persist=persist, api_key=API_KEY, api_secret=API_SECRET, extra_args=args
    )
    return sb.start()


def start_provider(workdir: Path) -> Provider:
    """A started SIP provider (Kamailio edge + SIPp callee), or :class:`Skip`."""
    from sipctl.sandbox.provider import Provider, missing_binaries

    missing = missing_binaries()
    if missing:
        raise Skip(f"needs {', '.join(missing)} (apt-get install kamailio sip-tester)")
    return Provider(workdir).start()


def env_for(sb: SandboxProcess | None = None, **extra: str) -> dict[str, str]:
    """The environment of a measured sipctl process: this repo first, the sandbox's
    LIVEKIT_* settings, and ``extra``. Byte-code caching stays on (as for an installed
    package): PYTHONDONTWRITEBYTECODE would make every run compile sipctl again."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["GITHUB_STEP_SUMMARY"] = ""  # never append to a CI summary from a bench
    if sb is not None:
        env.update(sb.env)
    env.update(extra)
    return env


def sipctl_argv(*args: str) -> list[str]:
    """``python -m sipctl ARGS`` with this interpreter."""
    return [sys.executable, "-m", "sipctl", *args]


# --- measuring processes ---------------------------------------------------------------


@dataclass
class Run:
    """One finished process: exit code, wall seconds, its own peak RSS, its output, and
    its CPU seconds (user + system: steadier than wall time on a shared machine)."""

    argv: list[str]
    returncode: int
    wall: float
    peak_rss_mb: float
    stdout: str
    stderr: str
    cpu: float = 0.0


def run(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    ok: Sequence[int] = (0,),
    timeout: float = 900.0,
    cwd: Path | None = None,
) -> Run:
    """Run ``argv`` to its end; :class:`BenchError` when its exit code is not in ``ok``.

    Wall time runs from just before the fork to the reap. Output goes to temporary files
    (no pipe can fill up and stall the child, no reader thread competes for the CPU), and
    ``wait4`` gives the child's own peak RSS (RUSAGE_CHILDREN would mix in earlier
    children). A watchdog kills the child after ``timeout`` seconds.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code  # reaped here: keep Popen from waiting again
        out.seek(0)
        err.seek(0)
        result = Run(
            list(argv),
            code,
            wall,
            usage.ru_maxrss / 1024,  # KiB on Linux
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            usage.ru_utime + usage.ru_stime,
        )
    if code not in ok:
        raise BenchError(
            f"{' '.join(argv[:6])} ... exited {code} after {wall:.1f}s:\n"
            f"{result.stderr[-3000:]}\n{result.stdout[-2000:]}"
        )
    return result


@dataclass
class Stats:
    """``runs`` repetitions of one command: wall seconds and peak RSS."""

    walls: list[float]
    rss_mb: list[float]
    last: Run
    cpus: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpus) if self.cpus else 0.0

    @property
    def best(self) -> float:
        return min(self.walls)

    @property
    def p90(self) -> float:
        return percentile(self.walls, 90)

    @property
    def peak_rss_mb(self) -> float:
        return max(self.rss_mb)


def run_median(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    runs: int,
    warmup: int = 1,
    ok: Sequence[int] = (0,),
    check: Callable[[Run], None] | None = None,
) -> Stats:
    """``warmup`` unmeasured runs (file cache, .pyc), then ``runs`` measured ones."""
    for _ in range(warmup):
        run(argv, env, ok=ok)
    walls, rss = [], []
    last: Run | None = None
    for _ in range(max(1, runs)):
        last = run(argv, env, ok=ok)
        if check is not None:
            check(last)
        walls.append(last.wall)
        rss.append(last.peak_rss_mb)
    assert last is not None
    return Stats(walls, rss, last)


def run_interleaved(
    commands: Mapping[str, Sequence[str]],
    env: Mapping[str, str] | None = None,
    *,
    runs: int,
    warmup: int = 1,
    check: Mapping[str, Callable[[Run], None]] | None = None,
) -> dict[str, Stats]:
    """Like :func:`run_median` for several commands, taking turns (A B C, A B C, ...):
    a noisy neighbour then slows them alike, and their ratios stay fair."""
    for _ in range(warmup):
        for argv in commands.values():
            run(argv, env)
    walls: dict[str, list[float]] = {name: [] for name in commands}
    rss: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    last: dict[str, Run] = {}
    for _ in range(max(1, runs)):
        for name, argv in commands.items():
            r = last[name] = run(argv, env)
            if check is not None and name in check:
                check[name](r)
            walls[name].append(r.wall)
            rss[name].append(r.peak_rss_mb)
            cpus[name].append(r.cpu)
    return {name: Stats(walls[name], rss[name], last[name], cpus[name]) for name in commands}


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


# --- figures ---------------------------------------------------------------------------


class Figures:
    """Named figures in the order measured; printed as ``name: value unit`` (exactly that,
    for scripts that read them) and written as JSON ``{name: {"value": v, "unit": u}}``.
    A figure's ``note`` (its target, what it counts) goes to stderr and into the JSON."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[float, str]] = {}
        self.notes: dict[str, str] = {}

    def add(self, name: str, value: float, unit: str, note: str = "") -> None:
        self.items[name] = (float(value), unit)
        if note:
            self.notes[name] = note

    def __contains__(self, name: str) -> bool:
        return name in self.items

    def __getitem__(self, name: str) -> float:
        return self.items[name][0]

    def lines(self) -> list[str]:
        return [f"{name}: {value:.3f} {unit}" for name, (value, unit) in self.items.items()]

    def to_json(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name, (v, u) in self.items.items():
            out[name] = {"value": round(v, 4), "unit": u}
            if name in self.notes:
                out[name]["note"] = self.notes[name]
        return out

    def emit(self, path: Path | None) -> None:
        for name, line in zip(self.items, self.lines(), strict=True):
            print(line, flush=True)
            if name in self.notes:
                print(f"  ({self.notes[name]})", file=sys.stderr, flush=True)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(self.to_json(), indent=2) + "\n")


def load_figures(path: Path) -> dict[str, float]:
    """Another bench's JSON (``{}`` when it is missing or unreadable)."""
    try:
        data = json.loads(path.read_text())
        return {name: float(f["value"]) for name, f in data.items()}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = int(line.split()[1]) / 1024 / 1024
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": cores,
        "memory_gb": round(mem_gb, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "network": "loopback (127.0.0.1)",
    }


def machine_line(info: Mapping[str, Any] | None = None) -> str:
    m = dict(info or machine())
    return (
        f"{m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB, Linux {m['kernel']}, "
        f"Python {m['python']}, {m['network']}, {m['date']}"
    )


# --- the shared command line -----------------------------------------------------------


def bench_main(
    doc: str | None,
    name: str,
    measure: Callable[[argparse.Namespace, Figures], None],
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    argv: Sequence[str] | None = None,
) -> int:
    """Parse ``--json PATH`` (default ``bench/results/NAME.json``) and the bench's own
    options, measure, print and write the figures. Exit 0, or 1 when a measured command
    failed (its error on stderr); a :class:`Skip` prints why and exits 0."""
    parser = argparse.ArgumentParser(
        description=(doc or name).strip().splitlines()[0],
        epilog="Prints `name: value unit` lines and writes the same figures as JSON.",
    )
    parser.add_argument("--json", type=Path, default=RESULTS / f"{name}.json")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    figures = Figures()
    try:
        measure(args, figures)
    except Skip as exc:
        print(f"skipped: {exc}", file=sys.stderr)
        return 0
    except BenchError as exc:
        print(f"bench {name} failed: {exc}", file=sys.stderr)
        return 1
    figures.emit(args.json)
    return 0
