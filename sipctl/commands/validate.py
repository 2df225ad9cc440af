"""``sipctl validate`` and ``sipctl schema``."""

from __future__ import annotations

import click

from sipctl.commands.common import Options, common_options, handle_errors, load
from sipctl.config.schema import schema_text
from sipctl.route_lint import print_warnings


@click.command("validate")
@common_options
@handle_errors
def command(opts: Options) -> None:
    """Check the config directory and report every problem at once (exit 1 if any)."""
    config = load(opts)
    print_warnings(config)
    click.echo(f"Configuration valid: {config.summary()}.")


@click.command("schema")
@common_options
@handle_errors
def schema_command(opts: Options) -> None:
    """Print the JSON Schema of one config file (also in schemas/sipctl.schema.json)."""
    click.echo(schema_text(), nl=False)
