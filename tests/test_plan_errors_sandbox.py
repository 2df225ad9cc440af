"""Connection problems and answers that do not fit: one clear line, exit 1, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.sandbox import Sandbox, free_port
from tests.reconcile_helpers import sipctl, write_config

CONFIG = """
    outbound_trunks:
      acme:
        address: sip.acme.example
        numbers: ["+15550100001"]
"""


def _one_error_line(res: object) -> str:
    assert res.exit_code == 1, res.output  # type: ignore[attr-defined]
    assert "Traceback" not in res.output  # type: ignore[attr-defined]
    lines = res.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1, lines
    return str(lines[0])


def test_wrong_secret(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c", CONFIG)
    res = sipctl(
        sandbox, cfg, "plan", env={"LIVEKIT_API_SECRET": "wrong-secret-wrong-secret-0123456789"}
    )
    line = _one_error_line(res)
    assert "refused the credentials" in line and "LIVEKIT_API_SECRET" in line
    assert "wrong-secret" not in line


def test_unknown_key(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c", CONFIG)
    line = _one_error_line(sipctl(sandbox, cfg, "plan", "--api-key", "nokey"))
    assert "LIVEKIT_API_KEY" in line and "'nokey'" in line


def test_unreachable_url(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c", CONFIG)
    url = f"http://127.0.0.1:{free_port()}"
    line = _one_error_line(sipctl(sandbox, cfg, "plan", "--url", url))
    assert line.startswith(f"Error: cannot reach LiveKit at {url}") and "LIVEKIT_URL" in line


def test_missing_grant(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c", CONFIG)
    sandbox.set_faults(
        errors=[{"method": "*", "code": "unauthenticated", "msg": "permissions denied"}]
    )
    line = _one_error_line(sipctl(sandbox, cfg, "plan"))
    assert "permissions denied" in line and "sip.admin" in line


def test_missing_connection_settings(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sipctl.cli import cli

    cfg = write_config(tmp_path / "c", CONFIG)
    env = {"LIVEKIT_URL": "", "LIVEKIT_API_KEY": "", "LIVEKIT_API_SECRET": ""}
    res = CliRunner().invoke(cli, ["plan", "--config", str(cfg)], env=env)
    assert res.exit_code == 1 and "LIVEKIT_URL (--url)" in res.stderr


@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        (
            {"bad_answers": {"method": "ListSIPOutboundTrunk", "kind": "unknown_enum"}},
            "unknown transport value 99",
        ),
        (
            {"bad_answers": {"method": "ListSIPOutboundTrunk", "kind": "missing_fields"}},
            "no sip_trunk_id",
        ),
        (
            {"garbage": {"method": "ListSIPOutboundTrunk", "kind": "garbage"}},
            "not a valid protobuf message",
        ),
    ],
    ids=["unknown-enum", "missing-fields", "garbage"],
)
def test_answers_that_do_not_fit(
    sandbox: Sandbox, tmp_path: Path, faults: dict[str, object], expected: str
) -> None:
    cfg = write_config(tmp_path / "c", CONFIG)
    assert sipctl(sandbox, cfg, "apply", "--auto-approve", "--no-verify").exit_code == 0
    sandbox.set_faults(**faults)
    line = _one_error_line(sipctl(sandbox, cfg, "plan"))
    assert expected in line
    if "garbage" not in faults:
        assert "outbound trunk" in line  # names the resource


def test_html_from_a_proxy_is_retried_then_reported(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c", CONFIG)
    sandbox.set_faults(garbage={"method": "ListSIPOutboundTrunk", "kind": "html"})
    line = _one_error_line(sipctl(sandbox, cfg, "plan"))
    assert "listing outbound trunks" in line and "HTTP 502" in line
    assert sandbox.state()["requests_by_method"]["ListSIPOutboundTrunk"] == 4  # 1 + 3 retries
