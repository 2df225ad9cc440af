"""Run every ``bench/bench_*.py`` in turn (``./dev bench``); each prints its figures as
``name: value unit`` lines and writes them as JSON under ``bench/results/``.

    ./dev bench                    # all of them
    ./dev bench startup sandbox    # only these (names without bench_ and .py)
    ./dev bench plan -- --sizes 100,1000   # options after -- go to every selected bench

Also writes ``bench/results/machine.json`` (what the figures were measured on) and
``bench/results/summary.md`` (every figure of this run as Markdown tables).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, load_figures, machine, machine_line

HERE = Path(__file__).resolve().parent


def summary(names: list[str], info: dict[str, object]) -> str:
    lines = [f"Measured on {machine_line(info)}.", ""]
    for name in names:
        path = RESULTS / f"{name}.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        lines += [f"### {name}", "", "| figure | value | unit | note |", "|---|---:|---|---|"]
        for fig, item in data.items():
            note = item.get("note", "")
            lines.append(f"| `{fig}` | {item['value']:.3f} | {item['unit']} | {note} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    scripts = {p.stem.removeprefix("bench_"): p for p in sorted(HERE.glob("bench_*.py"))}
    unknown = [n for n in argv if n not in scripts]
    if unknown:
        print(f"unknown bench {', '.join(unknown)}; known: {', '.join(scripts)}", file=sys.stderr)
        return 2
    selected = argv or list(scripts)
    RESULTS.mkdir(parents=True, exist_ok=True)
    info = machine()
    (RESULTS / "machine.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"machine: {machine_line(info)}", flush=True)
    failed = []
    for name in selected:
        print(f"== {name}", flush=True)
        out = RESULTS / f"{name}.json"
        out.unlink(missing_ok=True)  # a failed bench must not leave an old result behind
        t0 = time.monotonic()
        argv_ = [sys.executable, str(scripts[name]), "--json", str(out), *extra]
        if subprocess.run(argv_).returncode != 0:
            failed.append(name)
        print(f"   ({time.monotonic() - t0:.0f} s)", flush=True)
    ran = [n for n in selected if load_figures(RESULTS / f"{n}.json")]
    (RESULTS / "summary.md").write_text(summary(ran, info))
    print(f"figures: {RESULTS}/*.json, all of them in {RESULTS / 'summary.md'}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
