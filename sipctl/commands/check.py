"""``sipctl check``: place the test calls now, or on their schedules with ``--watch``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sipctl.commands.common import (
    LazyConnection,
    Options,
    common_options,
    connection_options,
    handle_errors,
    load,
)
from sipctl.errors import SipctlError
from sipctl.exitcodes import ExitCode
from sipctl.files import write_atomic
from sipctl.signals import on_signals

if TYPE_CHECKING:
    from sipctl.check import WatchEvent
    from sipctl.dial import DialEvent, DialResult
    from sipctl.models import TestCall

FORMATS = ("text", "json", "junit", "prometheus", "markdown")
SUFFIXES = {
    ".txt": "text",
    ".json": "json",
    ".xml": "junit",
    ".prom": "prometheus",
    ".md": "markdown",
}


@dataclass(frozen=True)
class Output:
    format: str
    path: Path | None  # None: stdout


def plan_outputs(formats: Sequence[str], outputs: Sequence[Path]) -> list[Output]:
    """Pair ``--format`` and ``--output`` in order; a format without a file goes to stdout,
    a file without a format is known by its suffix. No format at all: text on stdout."""
    for f in formats:
        if f not in FORMATS:
            raise SipctlError(f"--format {f!r} is not one of {', '.join(FORMATS)}")
    pairs: list[Output] = []
    for i, f in enumerate(formats):
        pairs.append(Output(f, outputs[i] if i < len(outputs) else None))
    for path in outputs[len(formats) :]:
        fmt = SUFFIXES.get(path.suffix.lower())
        if fmt is None:
            raise SipctlError(
                f"--output {path}: add a --format for it (cannot tell the format from "
                f"{path.suffix or 'no suffix'!r})"
            )
        pairs.append(Output(fmt, path))
    to_stdout = [o for o in pairs if o.path is None]
    if len(to_stdout) > 1:
        raise SipctlError(
            "only one --format can go to stdout: give the others an --output FILE each"
        )
    return pairs or [Output("text", None)]


def render(fmt: str, results: Sequence[DialResult], elapsed: float | None) -> str:
    if fmt == "json":
        from sipctl.render import check_json

        return check_json.render(results, elapsed=elapsed)
    if fmt == "junit":
        from sipctl.render import check_junit

        return check_junit.render(results, elapsed=elapsed)
    if fmt == "prometheus":
        from sipctl.render import check_prometheus

        return check_prometheus.render(results, elapsed=elapsed)
    if fmt == "markdown":
        from sipctl.render import check_markdown

        return check_markdown.render(results, elapsed=elapsed)
    from sipctl.render import check_text

    return check_text.render(results, elapsed=elapsed)


@dataclass
class Progress:
    """Live progress on a TTY (one status line on stderr, redrawn), result lines as calls
    finish when the text report goes to stdout, nothing else otherwise."""

    total: int
    stream_text: bool
    live: bool
    color: bool
    done: int = 0
    running: dict[str, tuple[str, float]] = field(default_factory=dict)
    _drawn: bool = False

    def __call__(self, event: DialEvent) -> None:
        from sipctl.render.check_text import line

        if event.kind == "start":
            self.running[event.name] = ("dialing", time.monotonic())
        elif event.kind == "status" and event.status:
            self.running[event.name] = (event.status, time.monotonic())
        elif event.kind == "retry" and event.result is not None:
            self._clear()
            click.echo(
                f"retrying {event.name} (attempt {event.attempt + 1}): {event.result.cause}",
                err=True,
            )
        elif event.kind == "done" and event.result is not None:
            self.done += 1
            self.running.pop(event.name, None)
            self._clear()
            if self.stream_text:
                click.echo(line(event.result, color=self.color))
        self._draw()

    def _clear(self) -> None:
        if self._drawn:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self._drawn = False

    def _draw(self) -> None:
        if not self.live or not self.running:
            self._clear()
            return
        width = shutil.get_terminal_size((100, 20)).columns
        parts = [f"{name} {status}" for name, (status, _) in sorted(self.running.items())]
        text = f"[{self.done}/{self.total}] " + ", ".join(parts)
        if len(text) > width - 1:
            text = text[: max(width - 2, 10)] + "…"
        sys.stderr.write("\r\x1b[K" + text)
        sys.stderr.flush()
        self._drawn = True

    def finish(self) -> None:
        self._clear()


def list_calls(calls: Sequence[tuple[str, TestCall]], shard: str | None) -> None:
    if not calls:
        click.echo("No test calls selected.")
        return
    rows = [("NAME", "TRUNK", "TO", "EXPECT", "SCHEDULE", "TAGS")]
    for name, c in calls:
        expect = "answered" if c.expected_status is None else str(c.expected_status)
        rows.append((name, c.trunk, c.to, expect, c.schedule or "-", ",".join(c.tags) or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    n = len(calls)
    where = f" (shard {shard})" if shard else ""
    click.echo(f"{n} test call{'s' if n != 1 else ''} would run{where}; nothing was dialled.")


@click.command("check")
@click.argument("names", nargs=-1)
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Only calls with this tag.")
@click.option("--trunk", "trunks", multiple=True, metavar="TRUNK", help="Only calls via it.")
@click.option(
    "--parallelism",
    type=int,
    default=None,
    metavar="N",
    help="Calls at once (default settings.check_parallelism, 4).",
)
@click.option("--list", "list_only", is_flag=True, help="Show what would run; dial nothing.")
@click.option(
    "--format",
    "formats",
    multiple=True,
    metavar="FORMAT",
    help="text, json, junit, prometheus or markdown; repeat with --output for several.",
)
@click.option(
    "--output",
    "outputs",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write the matching --format to FILE (default: stdout).",
)
@click.option("--shard", metavar="K/N", help="Run only part K of N (stable split by name).")
@click.option("--watch", is_flag=True, help="Run each call on its schedule until stopped.")
@click.option(
    "--serve",
    metavar="HOST:PORT",
    help="With --watch: serve /metrics and /healthz, e.g. 127.0.0.1:9464.",
)
@common_options
@connection_options
@handle_errors
def command(
    opts: Options,
    conn: LazyConnection,
    names: tuple[str, ...],
    tags: tuple[str, ...],
    trunks: tuple[str, ...],
    parallelism: int | None,
    list_only: bool,
    formats: tuple[str, ...],
    outputs: tuple[Path, ...],
    shard: str | None,
    watch: bool,
    serve: str | None,
) -> None:
    """Place the selected test calls and judge them (all when no NAME is given).

    \b
    Verdicts: pass, degraded (answered late; still passes), fail, error.
    Exit codes: 3 a call failed; 1 a call was an error or sipctl could not run
    (config, connection, auth); 0 otherwise.
    """
    from sipctl.check import parse_listen, parse_shard, select_calls, shard_calls

    config = load(opts)
    settings = config.settings
    selected = select_calls(config.test_calls, names, tags, trunks)
    if shard:
        k, n = parse_shard(shard)
        selected = shard_calls(selected, k, n)
    plan = plan_outputs(formats, outputs)
    n_par = settings.check_parallelism if parallelism is None else parallelism
    if n_par < 1:
        raise SipctlError(f"--parallelism must be at least 1 (got {n_par})")
    listen = parse_listen(serve) if serve else None
    if list_only:
        list_calls(selected, shard)
        return
    if not selected:
        click.echo("No test calls selected: nothing to dial.", err=True)
        return
    connection = conn.get()
    if watch or listen is not None:
        _watch(connection, selected, settings, n_par, plan, listen, opts.color)
        sys.exit(ExitCode.OK)
    sys.exit(_once(connection, selected, settings, n_par, plan, opts.color))


def _once(
    connection: Any,
    selected: list[tuple[str, TestCall]],
    settings: Any,
    parallelism: int,
    plan: list[Output],
    color: bool,
) -> int:
    from sipctl.check import exit_code
    from sipctl.dial import run_calls
    from sipctl.render.check_text import summary

    stdout_fmt = next((o.format for o in plan if o.path is None), None)
    stream_text = stdout_fmt in (None, "text")
    progress = Progress(
        total=len(selected), stream_text=stream_text, live=sys.stderr.isatty(), color=color
    )

    async def main() -> list[DialResult]:
        task = asyncio.current_task()
        assert task is not None

        try:
            with on_signals(task.cancel):
                return await run_calls(
                    connection,
                    selected,
                    parallelism=parallelism,
                    max_per_trunk=settings.max_calls_per_trunk,
                    on_event=progress,
                )
        finally:
            progress.finish()

    t0 = time.monotonic()
    try:
        results = asyncio.run(main())
    except asyncio.CancelledError:
        # every call hung up and deleted its room before we got here
        raise KeyboardInterrupt from None
    elapsed = time.monotonic() - t0
    if stream_text:
        click.echo(summary(results, elapsed))
    for out in plan:
        if out.path is None:
            if out.format != "text":
                click.echo(render(out.format, results, elapsed), nl=False)
        else:
            write_atomic(out.path, render(out.format, results, elapsed))
    degraded = [r.name for r in results if r.verdict == "degraded"]
    if degraded:
        click.echo(
            f"warning: {len(degraded)} test call{'s' if len(degraded) != 1 else ''} "
            f"answered late (degraded, still passing): {', '.join(degraded)}",
            err=True,
        )
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        from sipctl.render.check_markdown import render as markdown

        try:
            with open(step_summary, "a", encoding="utf-8") as fh:
                fh.write(markdown(results, elapsed=elapsed))
        except OSError as exc:
            click.echo(f"warning: cannot append to GITHUB_STEP_SUMMARY: {exc}", err=True)
    return exit_code(results)


def _watch(
    connection: Any,
    selected: list[tuple[str, TestCall]],
    settings: Any,
    parallelism: int,
    plan: list[Output],
    listen: tuple[str, int] | None,
    color: bool,
) -> None:
    from sipctl.check import Watcher, serve_metrics
    from sipctl.dial import CallLimiter, run_calls
    from sipctl.render.check_text import line

    files = [o for o in plan if o.path is not None]
    for o in plan:
        if o.path is None and o.format != "text":
            raise SipctlError(
                f"--watch writes --format {o.format} to a file only: add --output FILE"
            )
    limiter = CallLimiter(parallelism, settings.max_calls_per_trunk)

    async def dial_one(name: str, call: TestCall) -> DialResult:
        results = await run_calls(
            connection,
            [(name, call)],
            parallelism=parallelism,
            max_per_trunk=settings.max_calls_per_trunk,
            limiter=limiter,
        )
        return results[0]

    def stamp() -> str:
        return datetime.now().astimezone().strftime("%Y-%m-%dT%H:%M:%S%z")

    def on_event(ev: WatchEvent) -> None:
        st = ev.state
        if ev.kind == "skipped":
            click.echo(f"{stamp()} skipped {st.name}: {ev.reason}", err=True)
            return
        assert ev.result is not None
        click.echo(f"{stamp()} {line(ev.result, color=color)}")
        if ev.became_failing:
            click.echo(
                f"{stamp()} FAILING  {st.name}: {st.consecutive_failures} failed run"
                f"{'s' if st.consecutive_failures != 1 else ''} in a row",
            )
        elif ev.recovered:
            click.echo(f"{stamp()} RECOVERED {st.name}")
        elif not ev.result.ok and not st.failing:
            click.echo(
                f"{stamp()} {st.name}: failure {st.consecutive_failures} of "
                f"{settings.failure_threshold} before it is reported failing",
            )
        if files:
            latest = [s.last for s in watcher.states.values() if s.last is not None]
            for o in files:
                assert o.path is not None
                try:
                    write_atomic(o.path, render(o.format, latest, None))
                except SipctlError as exc:
                    click.echo(f"warning: {exc}", err=True)

    watcher = Watcher(selected, settings, dial_one, on_event=on_event)
    if not watcher.states:
        raise SipctlError(
            "--watch: none of the selected test calls has a schedule (add schedule: to them)"
        )
    if watcher.unscheduled:
        click.echo(f"skipped (no schedule): {', '.join(watcher.unscheduled)}", err=True)
    click.echo(
        f"watching {len(watcher.states)} test call{'s' if len(watcher.states) != 1 else ''}: "
        + ", ".join(f"{st.name} ({st.call.schedule})" for st in watcher.states.values()),
        err=True,
    )

    async def main() -> None:
        runner = None
        try:
            with on_signals(watcher.stop):
                if listen is not None:
                    runner = await serve_metrics(watcher, *listen)
                    click.echo(
                        f"serving /metrics and /healthz on {listen[0]}:{listen[1]}", err=True
                    )
                await watcher.run()
        finally:
            if runner is not None:
                await runner.cleanup()

    # stopping is what a signal asks for: calls were hung up on the way out
    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(main())
    click.echo("stopped.", err=True)
