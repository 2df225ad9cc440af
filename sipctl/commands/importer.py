"""``sipctl import``: write YAML for live resources, secrets as ${...} references."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from sipctl.commands.common import (
    LazyConnection,
    Options,
    common_options,
    connection_options,
    handle_errors,
)
from sipctl.errors import SipctlError
from sipctl.files import write_atomic
from sipctl.importer import import_resources, render_yaml
from sipctl.reconcile import read_live


@click.command("import")
@click.argument("selectors", nargs=-1, metavar="[NAME_OR_ID]...")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the YAML here (default: standard output).",
)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@common_options
@connection_options
@handle_errors
def command(
    opts: Options,
    conn: LazyConnection,
    selectors: tuple[str, ...],
    out: Path | None,
    force: bool,
) -> None:
    """Write YAML for live LiveKit resources (all, or those named or with these IDs).

    Passwords become ${VARIABLE} references with suggested names; nothing changes in
    LiveKit. `sipctl plan` then shows the resources as ~ adopt, and `sipctl apply` marks
    them managed. Exit 0; 1 on error; 130 when interrupted (Ctrl-C).
    """
    if out is not None and out.exists() and not force:
        raise SipctlError(f"{out} exists: choose another --out, or pass --force to overwrite it")
    connection = conn.get()
    state = asyncio.run(read_live(connection))
    result = import_resources(state, selectors)
    text = render_yaml(result, connection.url)
    for w in result.warnings:
        click.echo(f"Warning: {w}", err=True)
    if out is None:
        click.echo(text, nl=False)
    else:
        if not out.parent.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out, text)
        click.echo(f"Wrote {result.summary()} to {out}.", err=True)
    if result.variables:
        names = ", ".join(v.name for v in result.variables)
        click.echo(f"Set these variables before `sipctl plan`: {names}.", err=True)
