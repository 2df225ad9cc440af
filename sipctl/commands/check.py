"""``sipctl check``: place the test calls now, or on their schedules with ``--watch``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from sipctl.check import parallelism, parse_listen, select
from sipctl.commands.common import (
    LazyConnection,
    Options,
    common_options,
    connection_options,
    handle_errors,
    load,
)
from sipctl.config.model import Config
from sipctl.exitcodes import ExitCode
from sipctl.models import Settings, TestCall
from sipctl.render import check_list, check_outputs, check_watch
from sipctl.render.check_outputs import Output
from sipctl.render.check_progress import Progress
from sipctl.render.progress import wanted as live_progress
from sipctl.results import exit_code


@click.command("check")
@click.argument("names", nargs=-1)
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Only calls with this tag.")
@click.option("--trunk", "trunks", multiple=True, metavar="TRUNK", help="Only calls via it.")
@click.option(
    "--parallelism", type=int, metavar="N", help="Calls at once (settings.check_parallelism)."
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
    "--serve", metavar="HOST:PORT", help="With --watch: serve the status page, /metrics, /healthz."
)
@common_options
@connection_options
@handle_errors
def command(opts: Options, conn: LazyConnection, **a: Any) -> None:
    """Place the selected test calls and judge them (all when no NAME is given).

    \b
    Verdicts: pass, degraded (answered late; still passes), fail, error.
    Exit codes: 3 a call failed; 1 a call was an error or sipctl could not run
    (config, connection, auth, a NAME, --tag or --trunk not in the config);
    130 interrupted (Ctrl-C, SIGTERM; calls are hung up first; a stopped --watch
    exits 0); 0 otherwise.
    """
    config = load(opts)
    settings: Settings = config.settings
    selected = select(
        config.test_calls, a["names"], a["tags"], a["trunks"], a["shard"], config.outbound_trunks
    )
    outputs = check_outputs.plan_outputs(a["formats"], a["outputs"])
    n_par = parallelism(a["parallelism"], settings.check_parallelism)
    listen = parse_listen(a["serve"], watch=a["watch"]) if a["serve"] else None
    if a["list_only"]:
        click.echo(check_list.render(selected, a["shard"], outputs), nl=False)
        return
    if not selected:
        click.echo("No test calls selected: nothing to dial.", err=True)
        return
    if a["watch"]:
        _watch(conn, config, selected, n_par, outputs, listen, opts.color)
        sys.exit(ExitCode.OK)
    sys.exit(_once(conn, selected, settings, n_par, outputs, opts.color))


def _once(
    conn: LazyConnection,
    selected: list[tuple[str, TestCall]],
    settings: Settings,
    n_par: int,
    outputs: list[Output],
    color: bool,
) -> int:
    # deferred: the dial runner loads livekit.api and aiohttp (~180 ms), which --list,
    # selection errors and config errors do without
    from sipctl.dial import dial_now

    stream_text = check_outputs.stdout_format(outputs) in (None, "text")
    progress = Progress(len(selected), stream_text, live=live_progress(stream_text), color=color)
    try:
        results, elapsed = dial_now(
            conn.get(),
            selected,
            parallelism=n_par,
            max_per_trunk=settings.max_calls_per_trunk,
            on_event=progress,
            settings=settings,
        )
    finally:
        progress.finish()
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    check_outputs.report(
        outputs, results, elapsed, stream_text=stream_text, step_summary=step_summary
    )
    return exit_code(results)


def _watch(
    conn: LazyConnection,
    config: Config,
    selected: list[tuple[str, TestCall]],
    n_par: int,
    outputs: list[Output],
    listen: tuple[str, int] | None,
    color: bool,
) -> None:
    from sipctl.drift import monitor_for  # deferred: see _once
    from sipctl.watch import run_watch

    console = check_watch.WatchConsole(check_outputs.files_only(outputs, "--watch"), color, listen)
    run_watch(
        conn.get(),
        selected,
        config.settings,
        n_par,
        on_event=console,
        on_ready=console.ready,
        listen=listen,
        pages=check_watch.PAGES,
        drift=monitor_for(conn, config, on_change=console.drift),
    )
    click.echo("stopped.", err=True)
