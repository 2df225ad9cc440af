"""The apply prompt: only "yes" applies; Ctrl-C or Ctrl-D cancel cleanly."""

from __future__ import annotations

import sys

import click

from sipctl.errors import SipctlError
from sipctl.exitcodes import ExitCode

CANCELLED = "Apply cancelled; nothing was changed."


def confirm(plan_text: str | None) -> None:
    """Ask on a terminal; without one, refuse (CI must say --auto-approve). Ctrl-C exits
    130 and end of input (Ctrl-D) exits 1, both saying nothing was changed."""
    if not sys.stdin.isatty():
        raise SipctlError(
            "refusing to apply without confirmation: stdin is not a terminal; review the "
            "plan and pass --auto-approve (or save it with `sipctl plan --out FILE` and run "
            "`sipctl apply FILE`)"
        )
    # The prompt is written inside the try: a Ctrl-C typed as soon as it shows (before
    # input() starts reading) is a cancel too, not an interrupted command.
    try:
        if plan_text is not None:
            click.echo(plan_text, nl=False, err=True)
        click.echo("Apply these changes? Only 'yes' will be accepted: ", nl=False, err=True)
        answer = input()
    except KeyboardInterrupt:
        click.echo(f"\n{CANCELLED}", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except EOFError:
        click.echo(f"\n{CANCELLED}", err=True)
        sys.exit(ExitCode.ERROR)
    if answer.strip() != "yes":
        click.echo(CANCELLED, err=True)
        sys.exit(ExitCode.ERROR)
