"""``sipctl sandbox``: run the LiveKit-compatible sandbox server in the foreground."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

import click

from sipctl.sandbox.faults import FaultConfig, FaultConfigError, parse_error_rate
from sipctl.sandbox.server import LOG, SandboxServer, ServerConfig


async def serve(config: ServerConfig) -> None:
    """Run until SIGINT/SIGTERM (or ``stop_after``), then hang up calls and flush."""
    server = SandboxServer(config)
    await server.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.stop_requested.set)
    try:
        await server.stop_requested.wait()
    finally:
        LOG.info("sandbox stopping")
        await server.close()
        LOG.info("sandbox stopped")


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _seconds(param: click.Parameter, value: str) -> float:
    """A positive duration: seconds (``2.5``) or Go-style with a unit (``500ms``, ``5s``)."""
    text = str(value).strip()
    for unit in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(unit):
            number, scale = text[: -len(unit)], _UNITS[unit]
            break
    else:
        number, scale = text, 1.0
    try:
        seconds = float(number) * scale
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise click.BadParameter(f"{value!r} is not a positive duration (e.g. 5s, 500ms)")
    return seconds


def _setup_logging(debug: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("sipctl")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    root.propagate = False


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=7880, show_default=True, type=int, help="HTTP port (0: any).")
@click.option("--api-key", default="devkey", show_default=True)
@click.option("--api-secret", default="secret", show_default=True)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep trunks and dispatch rules here across restarts (default: memory only).",
)
@click.option("--mask-secrets", is_flag=True, help="Answer every trunk with auth_password emptied.")
@click.option("--latency-ms", default=0.0, type=float, help="Fault: delay every Twirp call.")
@click.option(
    "--error-rate",
    "error_rates",
    multiple=True,
    metavar="METHOD=RATE[:CODE[:before|after]]",
    help="Fault: fail METHOD (or *) with a Twirp error at this rate; repeatable.",
)
@click.option("--reset-connection-rate", default=0.0, type=float, help="Fault: reset connections.")
@click.option("--stop-after", type=int, help="Fault: exit after N Twirp requests.")
@click.option("--seed", type=int, help="Seed for fault rolls (reproducible runs).")
@click.option(
    "--sip-port",
    type=click.IntRange(0, 65535),
    help="Answer inbound SIP (UDP and TCP) on this port (0: a free one, printed as "
    "sip=HOST:PORT). Without it, no SIP listener.",
)
@click.option(
    "--media-timeout",
    default="15s",
    show_default=True,
    callback=lambda ctx, param, value: _seconds(param, value),
    help="Hang up a call whose RTP stops for this long (unless its media_timeout says).",
)
@click.option(
    "--initial-media-timeout",
    default="30s",
    show_default=True,
    callback=lambda ctx, param, value: _seconds(param, value),
    help="Hang up a call that sends no RTP this long after the answer.",
)
# Accepted like on every sipctl command; the sandbox reads no config and prints no colour.
@click.option("--config", "config_dir", type=click.Path(path_type=Path), hidden=True)
@click.option("--debug", is_flag=True, help="Debug logs on stderr.")
@click.option("--no-color", is_flag=True, hidden=True)
def sandbox(
    host: str,
    port: int,
    api_key: str,
    api_secret: str,
    data_dir: Path | None,
    mask_secrets: bool,
    latency_ms: float,
    error_rates: tuple[str, ...],
    reset_connection_rate: float,
    stop_after: int | None,
    seed: int | None,
    sip_port: int | None,
    media_timeout: float,
    initial_media_timeout: float,
    config_dir: Path | None,
    debug: bool,
    no_color: bool,
) -> None:
    """Run a LiveKit-compatible server (SIP + RoomService Twirp APIs) for tests and demos."""
    try:
        faults = FaultConfig(
            latency_ms=latency_ms,
            errors=[parse_error_rate(spec) for spec in error_rates],
            reset_connection_rate=reset_connection_rate,
            stop_after=stop_after,
            seed=seed,
        )
    except FaultConfigError as e:
        raise click.UsageError(str(e)) from None
    if not 0 <= reset_connection_rate <= 1:
        raise click.UsageError("--reset-connection-rate must be between 0 and 1")
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
    _setup_logging(debug)
    config = ServerConfig(
        host=host,
        port=port,
        api_key=api_key,
        api_secret=api_secret,
        data_dir=data_dir,
        mask_secrets=mask_secrets,
        faults=faults,
        media_timeout=media_timeout,
        media_timeout_initial=initial_media_timeout,
        sip_port=sip_port,
    )
    try:
        asyncio.run(serve(config))
    except OSError as e:
        raise click.ClickException(f"cannot start the sandbox: {e}") from None


def main() -> None:
    sandbox(prog_name="python -m sipctl.sandbox")
