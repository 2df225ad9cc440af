"""The command line's frame: the lazy command table, exit codes of usage errors, completion."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from sipctl.cli import COMMANDS, cli


def test_help_imports_no_command_and_not_the_sandbox() -> None:
    # A fresh interpreter: `sipctl --help` lists the table without loading what it names.
    code = (
        "import sys, json\n"
        "from click.testing import CliRunner\n"
        "from sipctl.cli import cli\n"
        "out = CliRunner().invoke(cli, ['--help']).output\n"
        "print(json.dumps([out, sorted(m for m in sys.modules if m.startswith('sipctl'))]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    out, modules = json.loads(proc.stdout)
    for name, (_, _, short_help) in COMMANDS.items():
        assert name in out and short_help in out
    assert not [m for m in modules if m.startswith(("sipctl.commands", "sipctl.sandbox"))]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_table_entry_is_a_command(name: str) -> None:
    ctx = click.Context(cli)
    command = cli.get_command(ctx, name)
    assert isinstance(command, click.Command)
    assert CliRunner().invoke(cli, [name, "--help"]).exit_code == 0


def test_unknown_command_and_bad_option_exit_1() -> None:
    runner = CliRunner()
    unknown = runner.invoke(cli, ["nosuch"])
    assert unknown.exit_code == 1
    assert "No such command 'nosuch'" in unknown.output
    assert runner.invoke(cli, ["validate", "--nosuch"]).exit_code == 1


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script_completes_sipctl(shell: str) -> None:
    result = CliRunner().invoke(cli, ["completion", shell])
    assert result.exit_code == 0, result.output
    assert "_SIPCTL_COMPLETE" in result.output
    assert f"{shell}_complete" in result.output  # the script asks sipctl back


def test_completion_completes_the_command_names() -> None:
    # What the shell script asks for: the words after `sipctl `, here the command names.
    result = CliRunner().invoke(
        cli,
        [],
        prog_name="sipctl",
        env={"_SIPCTL_COMPLETE": "bash_complete", "COMP_WORDS": "sipctl ch", "COMP_CWORD": "1"},
    )
    assert "plain,check" in result.output.splitlines()


@click.command()
@click.argument("what")
def failing(what: str) -> int:
    """A stand-in command (loaded through the table like the real ones) that fails."""
    if what == "error":
        raise click.ClickException("the error text")
    if what == "abort":
        raise click.Abort
    return 3


@pytest.mark.parametrize(
    ("what", "code", "stderr"),
    [("error", 1, "Error: the error text\n"), ("abort", 1, "Aborted!\n"), ("three", 3, "")],
)
def test_main_turns_click_outcomes_into_exit_codes(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    what: str,
    code: int,
    stderr: str,
) -> None:
    monkeypatch.setitem(COMMANDS, "failing", ("tests.test_cli", "failing", "A stand-in."))
    with pytest.raises(SystemExit) as exited:
        cli.main(["failing", what], prog_name="sipctl")
    assert exited.value.code == code
    assert capsys.readouterr().err == stderr
    # Not standalone (as CliRunner and embedding callers use it): the value comes back.
    if what == "three":
        assert cli.main(["failing", what], standalone_mode=False) == 3
