"""The ``sipctl`` command line: a thin click group whose commands load on demand.

Commands live in ``sipctl.commands.<name>`` (and the sandbox in ``sipctl.sandbox.cli``); they
are imported only when run, so ``sipctl --help`` stays fast.
"""

from __future__ import annotations

import gc
import importlib
import sys
import warnings
from typing import Any

import click

from sipctl import __version__

# name -> (module, attribute, one-line help shown by `sipctl --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "validate": (
        "sipctl.commands.validate",
        "command",
        "Check the config and report every problem.",
    ),
    "output": ("sipctl.commands.output", "command", "Print the IDs of the managed resources."),
    "plan": ("sipctl.commands.plan", "command", "Show what apply would change in LiveKit."),
    "apply": ("sipctl.commands.apply", "command", "Make LiveKit match the config, then verify."),
    "import": ("sipctl.commands.importer", "command", "Write YAML for live LiveKit resources."),
    "check": ("sipctl.commands.check", "command", "Place the test calls and judge them."),
    "schema": ("sipctl.commands.validate", "schema_command", "Print the config JSON Schema."),
    "route": ("sipctl.commands.route", "command", "Show where LiveKit routes an inbound call."),
    "sandbox": ("sipctl.sandbox.cli", "sandbox", "Run a local LiveKit-compatible server."),
    "completion": ("sipctl.commands.completion", "command", "Print a shell completion script."),
}


class LazyGroup(click.Group):
    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """click's main, except that a usage error exits 1: 2 means "plan found changes"."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as exc:
            exc.show()
            sys.exit(1)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module, attr, _ = spec
        cmd = getattr(importlib.import_module(module), attr)
        if _PAUSED_GC:
            # The command's modules are in: exempt what they built from collection passes
            # (it lives as long as the process) and collect as usual from here on.
            gc.freeze()
            gc.enable()
        assert isinstance(cmd, click.Command)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Use the short help from COMMANDS so that --help imports nothing heavy.
        rows = [(name, spec[2]) for name, spec in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


EPILOG = """\b
Exit codes: 0 success; 1 error (config, connection, auth, failed apply);
2 plan --detailed-exitcode found changes; 3 a test call or verification dial failed.
Connection: LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET (or --url/--api-key/--api-secret),
or --project NAME (LIVEKIT_PROJECT): a project of the lk CLI's ~/.livekit/cli-config.yaml.
"""


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="sipctl")
def cli() -> None:
    """Declarative management of LiveKit SIP trunks, with test calls.

    YAML in config/ declares trunks, dispatch rules and test calls; plan shows the
    difference to live LiveKit state, apply makes it so and dials through what changed,
    check places the test calls now or on a schedule.
    """


# main() pauses the cyclic garbage collector until the command's modules are imported:
# importing them (pydantic building its validators above all) triggers full collections
# that find nothing to free, 50 ms of a 1,000-trunk plan (bench/bench_plan.py). Only the
# process's own entry point does this, not `cli` run in-process (tests).
_PAUSED_GC = False


def main() -> None:
    global _PAUSED_GC
    if gc.isenabled():
        gc.disable()
        _PAUSED_GC = True
    # livekit-api signs tokens with PyJWT, which warns about short HMAC keys such as the
    # `secret` of `livekit-server --dev` and `sipctl sandbox`: noise, not the user's fault.
    warnings.filterwarnings("ignore", message="The HMAC key is .* bytes long")
    cli(prog_name="sipctl")


if __name__ == "__main__":  # pragma: no cover
    main()
