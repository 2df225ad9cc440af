"""``sipctl route``: which inbound trunk and dispatch rule LiveKit picks for a call, and why
not the others (offline, from the config; ``--live`` adds live resources)."""

from __future__ import annotations

import asyncio
import ipaddress
import sys

import click

from sipctl.commands.common import (
    LazyConnection,
    Options,
    common_options,
    connection_options,
    handle_errors,
    load,
)
from sipctl.exitcodes import ExitCode
from sipctl.reconcile import read_live
from sipctl.render import route_json, route_text
from sipctl.route import Call, route, view
from sipctl.route_sources import from_config, with_live

# DTMF keys a caller can type at LiveKit's PIN prompt ('#' ends the PIN).
_PIN_KEYS = set("0123456789*ABCDabcd")


def _source_ip(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ipaddress.ip_address(value)
    except ValueError:
        # LiveKit too refuses a source address it cannot parse (EvaluateSIPDispatchRules).
        raise click.BadParameter(f"{value!r} is not an IPv4 or IPv6 address") from None
    return value


def _pin(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not set(value) <= _PIN_KEYS:
        raise click.BadParameter("a PIN is typed on the keypad: digits, * and A-D ('#' ends it)")
    return value


@click.command("route")
@click.argument("number")
@click.option("--from", "from_", metavar="NUMBER", help="The caller's number (From user).")
@click.option(
    "--source-ip", metavar="IP", callback=_source_ip, help="The address the INVITE comes from."
)
@click.option(
    "--pin", metavar="PIN", callback=_pin, help="The PIN the caller types when LiveKit asks."
)
@click.option("--live", is_flag=True, help="Also route through live resources not in the config.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@common_options
@connection_options
@handle_errors
def command(
    opts: Options,
    conn: LazyConnection,
    number: str,
    from_: str | None,
    source_ip: str | None,
    pin: str | None,
    live: bool,
    fmt: str,
) -> None:
    """Show the inbound trunk and dispatch rule LiveKit would pick for a call to NUMBER.

    NUMBER is the dialled number as it arrives (the To user, with or without '+'). Prints
    the room (or its pattern: <caller>, <random>) and agents, and why every other trunk and
    rule does not take the call. Exit 0 when the call reaches a room, 1 when it does not;
    130 when interrupted (Ctrl-C).
    """
    config = load(opts, freeze=True)
    trunks, rules = from_config(config)
    if live:
        state = asyncio.run(read_live(conn.get()))
        trunks, rules, warnings = with_live(trunks, rules, state)
        for w in warnings:
            click.echo(f"Warning: {w}", err=True)
    call = Call(to=number, from_=from_ or "", source_ip=source_ip or "", pin=pin)
    data = view(route(call, trunks, rules))
    if fmt == "json":
        click.echo(route_json.render(data), nl=False)
    else:
        click.echo(route_text.render(data, color=opts.color), nl=False, color=opts.color)
    sys.exit(ExitCode.OK if data["landed"] else ExitCode.ERROR)
