"""``sipctl plan``: show what apply would change in LiveKit."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from sipctl.commands.common import (
    LazyConnection,
    Options,
    common_options,
    connection_options,
    handle_errors,
    load,
    scope_options,
)
from sipctl.errors import SipctlError
from sipctl.exitcodes import ExitCode
from sipctl.files import write_atomic
from sipctl.reconcile import current_plan
from sipctl.render import plan_json, plan_markdown, plan_text
from sipctl.saved_plan import header


@click.command("plan")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="Output format (json: versioned, for machines; markdown: a PR comment).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also save the plan as JSON, for `sipctl apply FILE`.",
)
@scope_options
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 2 when there are changes (0 when none, 1 on error).",
)
@click.option(
    "--allow-delete",
    is_flag=True,
    help="Plan deletes of managed resources no longer in the config.",
)
@common_options
@connection_options
@handle_errors
def command(
    opts: Options,
    conn: LazyConnection,
    fmt: str,
    out: Path | None,
    targets: tuple[str, ...],
    take: tuple[str, ...],
    detailed_exitcode: bool,
    allow_delete: bool,
) -> None:
    """Show what `sipctl apply` would change in LiveKit.

    Compares the config with the live outbound trunks, inbound trunks and dispatch rules:
    + create, ~ update (field: old -> new), - delete, ~ adopt; secrets are shown as
    (sensitive value). Exit 0, or with --detailed-exitcode 2 when LiveKit differs
    (changes, or orphans kept); 1 on error; 130 when interrupted (Ctrl-C).
    """
    if out is not None and not out.parent.is_dir():
        raise SipctlError(f"cannot save the plan to {out}: directory {out.parent} does not exist")
    config = load(opts, freeze=True)
    connection = conn.get()
    plan, _ = asyncio.run(
        current_plan(
            connection,
            config,
            allow_delete=allow_delete,
            targets=targets,
            take_ownership=take,
            digests=fmt == "json" or out is not None,
        )
    )
    meta = header(connection, str(opts.config))
    if out is not None:
        write_atomic(out, plan_json.render(plan, meta))
    if fmt == "json":
        click.echo(plan_json.render(plan, meta), nl=False)
    elif fmt == "markdown":
        click.echo(plan_markdown.render(plan), nl=False)
    else:
        click.echo(plan_text.render(plan, color=opts.color), nl=False, color=opts.color)
    if out is not None:
        click.echo(f"Saved the plan to {out}: apply it with `sipctl apply {out}`.", err=True)
    if detailed_exitcode and plan.drifted:
        sys.exit(ExitCode.CHANGES)
