"""Connection problems and answers that do not fit: one clear line, exit 1, no traceback."""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import threading
from pathlib import Path
from types import SimpleNamespace

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


def test_https_url_to_a_plain_http_server_hints_at_the_scheme(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path / "c", CONFIG)
    for scheme in ("https", "wss"):
        url = sandbox.url.replace("http://", f"{scheme}://")
        line = _one_error_line(sipctl(sandbox, cfg, "plan", "--url", url))
        assert "plain HTTP: use http:// (or ws://)" in line, line


def test_http_url_to_a_tls_server_hints_at_the_scheme(tmp_path: Path) -> None:
    # A TLS listener that resets a plain-HTTP request, as a TLS server does.
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with contextlib.suppress(OSError, ssl.SSLError):
                ctx.wrap_socket(conn, server_side=True)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        cfg = write_config(tmp_path / "c", CONFIG)
        url = f"http://127.0.0.1:{port}"
        target = SimpleNamespace(
            env={"LIVEKIT_URL": url, "LIVEKIT_API_KEY": "devkey", "LIVEKIT_API_SECRET": "s" * 40}
        )
        res = sipctl(target, cfg, "plan")
        line = _one_error_line(res)
        assert "use https:// (or wss://)" in line, line
    finally:
        stop.set()
        thread.join(5)
        listener.close()
