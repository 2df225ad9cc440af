"""``sipctl output``: print the name -> ID map of this owner's managed resources."""

from __future__ import annotations

import asyncio

import click

from sipctl.commands.common import (
    LazyConnection,
    Options,
    common_options,
    connection_options,
    handle_errors,
    load,
)
from sipctl.outputs import render
from sipctl.reconcile import read_live


@click.command("output")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["env", "json", "yaml"]),
    default="env",
    show_default=True,
    help="env: NAME=ID lines (kubectl create configmap --from-env-file); json or yaml.",
)
@common_options
@connection_options
@handle_errors
def command(opts: Options, conn: LazyConnection, fmt: str) -> None:
    """Print the IDs of the resources this config's owner manages in LiveKit.

    env: SIPCTL_OUTBOUND_TRUNK_<KEY>=ID (and INBOUND_TRUNK, DISPATCH_RULE), the key upper-
    cased with other characters as '_'; json and yaml: section -> name -> ID.
    """
    config = load(opts, freeze=True)
    state = asyncio.run(read_live(conn.get(), config.settings.owner))
    click.echo(render(state, fmt), nl=False)
