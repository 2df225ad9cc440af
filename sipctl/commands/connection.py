"""The connection options every LiveKit command shares, resolved on first use."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from sipctl.livekit.connection import Connection
from sipctl.logs import register_secret

F = TypeVar("F", bound=Callable[..., Any])


def connection_options(fn: F) -> F:
    """``--url``, ``--api-key``, ``--api-secret`` over LIVEKIT_URL/_API_KEY/_API_SECRET, and
    ``--project`` (LIVEKIT_PROJECT) from the lk CLI's file (sipctl.livekit.projects)."""

    @click.option("--url", envvar="LIVEKIT_URL", help="LiveKit URL (env LIVEKIT_URL).")
    @click.option("--api-key", envvar="LIVEKIT_API_KEY", help="API key (env LIVEKIT_API_KEY).")
    @click.option(
        "--api-secret",
        envvar="LIVEKIT_API_SECRET",
        help="API secret (env LIVEKIT_API_SECRET).",
        show_envvar=False,
    )
    @click.option(
        "--project",
        envvar="LIVEKIT_PROJECT",
        metavar="NAME",
        help="A project of the lk CLI's ~/.livekit/cli-config.yaml (env LIVEKIT_PROJECT).",
    )
    @functools.wraps(fn)
    def wrapper(*args: Any, **kw: Any) -> Any:
        names = ("url", "api_key", "api_secret", "project")
        values = [kw.pop(n) for n in names]
        source = click.get_current_context().get_parameter_source
        env = frozenset(n for n in names if source(n) == click.core.ParameterSource.ENVIRONMENT)
        return fn(*args, conn=LazyConnection(values, env), **kw)

    return wrapper  # type: ignore[return-value]


class LazyConnection:
    """Resolved when a command first needs LiveKit, so --list and validate need no env."""

    def __init__(self, values: Sequence[str | None], from_env: frozenset[str]) -> None:
        assert len(values) == 4
        """``values``: url, api key, api secret, project; ``from_env``: which of their
        option names came from the environment."""
        self._values = values
        self._from_env = from_env
        self._resolved: Connection | None = None

    def get(self) -> Connection:
        if self._resolved is None:
            url, key, secret, project = self._values
            self._resolved, warnings = Connection.resolve(url, key, secret, project, self._from_env)
            for warning in warnings:
                click.echo(warning, err=True)
            register_secret(self._resolved.api_secret)
        return self._resolved
