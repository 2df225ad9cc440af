"""``sipctl validate``, ``--version``, ``--help`` and exit codes."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from sipctl import __version__
from sipctl.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def test_validate_example() -> None:
    result = CliRunner().invoke(
        cli, ["validate", "--config", str(ROOT / "config")], env={"ACME_SIP_PASSWORD": "x"}
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Configuration valid: 2 outbound trunks, 0 inbound trunks, 0 dispatch rules, "
        "2 test calls in 3 files.\n"
    )


def test_validate_reports_every_problem_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(
        "outbound_trunks:\n  a:\n    address: x.example.com\n    numbers: [nope@pbx]\n"
        "    transport: tpc\n"
    )
    result = CliRunner().invoke(cli, ["validate", "--config", str(tmp_path), "--debug"])
    assert result.exit_code == 1
    lines = result.stderr.splitlines() if hasattr(result, "stderr") else result.output.splitlines()
    assert any(
        line.endswith("a.transport: must be one of auto, udp, tcp, tls (got 'tpc')")
        for line in lines
    )
    uri = "a.numbers[0]: must be a phone number or SIP user, not a SIP URI"
    assert any(uri in line for line in lines)
    assert lines[-1] == "Error: 2 errors in the configuration"
    assert "Traceback" not in result.output


def test_config_from_env(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate"], env={"SIPCTL_CONFIG": str(tmp_path)})
    assert result.exit_code == 1
    assert "no *.yaml or *.yml files in the config directory" in result.output


def test_version_and_help() -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["--version"]).output == f"sipctl, version {__version__}\n"
    out = runner.invoke(cli, ["--help"]).output
    for name in ("validate", "plan", "apply", "import", "check", "sandbox", "schema"):
        assert f"  {name} " in out
    assert "Exit codes: 0 success" in out


def test_usage_errors_exit_1_not_2() -> None:
    # 2 means "plan found changes" to CI wrappers: a typo'd flag must not look like that
    result = CliRunner().invoke(cli, ["plan", "--formt", "json"])
    assert result.exit_code == 1
    assert "No such option '--formt'" in result.output
    assert CliRunner().invoke(cli, ["nosuch"]).exit_code == 1
    assert CliRunner().invoke(cli, ["--help"]).exit_code == 0
