"""``sipctl validate`` and ``sipctl schema``."""

from __future__ import annotations

import click

from sipctl.commands.common import Options, common_options, handle_errors, load
from sipctl.config.schema import schema_text
from sipctl.errors import SipctlError
from sipctl.server_rules import declared_conflicts


@click.command("validate")
@click.option(
    "--offline",
    is_flag=True,
    help="Unset environment variables are notes, not errors (pre-commit, forks' PRs).",
)
@common_options
@handle_errors
def command(opts: Options, offline: bool) -> None:
    """Check the config directory and report every problem at once (exit 1 if any).

    --offline checks everything except the values of unset environment variables (each
    reported as a note), so no production secret is needed."""
    config = load(opts, freeze=True, offline=offline)
    refused = declared_conflicts(config)
    if refused:
        # LiveKit's own rules (sipctl.server_rules): what it would refuse at apply
        raise SipctlError("; ".join(c.message for c in refused))
    click.echo(f"Configuration valid: {config.summary()}.")


@click.command("schema")
@common_options
@handle_errors
def schema_command(opts: Options) -> None:
    """Print the JSON Schema of one config file (also in schemas/sipctl.schema.json)."""
    click.echo(schema_text(), nl=False)
