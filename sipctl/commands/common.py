"""Options every command shares, output helpers and error handling (the connection
options live in ``commands.connection``)."""

from __future__ import annotations

import functools
import gc
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from sipctl.commands.connection import LazyConnection, connection_options
from sipctl.config.loader import load_config
from sipctl.errors import ConfigError, SipctlError
from sipctl.exitcodes import ExitCode
from sipctl.logs import redact, setup_logging

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Options:
    """What the common options resolved to."""

    config: Path
    debug: bool
    color: bool


def common_options(fn: F) -> F:
    """``--config DIR``, ``--debug``, ``--no-color``: accepted by every command."""

    @click.option(
        "--config",
        "config_dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="SIPCTL_CONFIG",
        default=Path("config"),
        show_default=True,
        help="Config directory (env SIPCTL_CONFIG).",
    )
    @click.option("--debug", is_flag=True, help="Debug logs on stderr.")
    @click.option("--no-color", is_flag=True, help="No colour in output.")
    @functools.wraps(fn)
    def wrapper(*args: Any, config_dir: Path, debug: bool, no_color: bool, **kw: Any) -> Any:
        setup_logging(debug)
        color = not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()
        return fn(*args, opts=Options(config_dir, debug, color), **kw)

    return wrapper  # type: ignore[return-value]


def scope_options(fn: F) -> F:
    """``--target NAME`` and ``--take-ownership NAME`` (repeatable), for plan and apply."""
    fn = click.option(
        "--take-ownership",
        "take",
        multiple=True,
        metavar="NAME",
        help="Take over this resource of another owner (repeatable).",
    )(fn)
    return click.option(
        "--target",
        "targets",
        multiple=True,
        metavar="NAME",
        help="Only this resource (repeatable).",
    )(fn)


def fail(message: str, code: int = ExitCode.ERROR) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def handle_errors(fn: F) -> F:
    """Turn sipctl errors into one clear line (or one per config problem) and exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except ConfigError as exc:
            for line in exc.lines():
                click.echo(line, err=True)
            fail(str(exc))
        except SipctlError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(ExitCode.INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # the last line of defence: never a bare traceback
            logging.getLogger("sipctl").debug("internal error", exc_info=True)
            fail(
                redact(
                    f"internal error ({type(exc).__name__}: {exc}); rerun with --debug "
                    "for details and please report it"
                )
            )

    return wrapper  # type: ignore[return-value]


def load(opts: Options, *, freeze: bool = False, offline: bool = False) -> Any:
    """Load the config of ``opts`` and print its warnings on stderr.

    The config lives as long as the command, so it is frozen (exempt from the garbage
    collector's passes, which would walk all of it and free nothing) before the collector
    runs again: the loader keeps it off while building, and the first pass after would
    walk every object built (35 ms of a 10,000-trunk validate).

    ``freeze``: keep the collector off until the command ends too. Reading 10,000 live
    trunks allocates enough to trigger full collections that find nothing to free (plan
    and apply keep what they read): 13 % of a 10,000-trunk plan's CPU time, same peak
    memory (bench/bench_plan.py)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        config = load_config(opts.config, offline=offline)
    finally:
        gc.freeze()
        if enabled and not freeze:
            gc.enable()
    for w in config.warnings:
        click.echo(str(w), err=True)
    if freeze and enabled:
        ctx = click.get_current_context(silent=True)
        if ctx is not None:  # on again when the command ends (tests run it in-process)
            ctx.call_on_close(gc.enable)
    return config


__all__ = [
    "LazyConnection",
    "Options",
    "common_options",
    "connection_options",
    "fail",
    "handle_errors",
    "load",
]
