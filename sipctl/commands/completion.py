"""``sipctl completion bash|zsh|fish``: print click's completion script for the shell."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

from sipctl.commands.common import Options, common_options


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@common_options
def command(opts: Options, shell: str) -> None:
    """Print a completion script: eval "$(sipctl completion bash)" in ~/.bashrc."""
    # The root group from click's context: a command does not import the CLI above it.
    root = click.get_current_context().find_root().command
    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(root, {}, "sipctl", "_SIPCTL_COMPLETE").source())
