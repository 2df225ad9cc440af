"""``sipctl completion bash|zsh|fish``: print click's completion script for the shell."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def command(shell: str) -> None:
    """Print a completion script: eval "$(sipctl completion bash)" in ~/.bashrc."""
    from sipctl.cli import cli

    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(cli, {}, "sipctl", "_SIPCTL_COMPLETE").source())
