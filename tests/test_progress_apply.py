"""`sipctl apply` of many changes shows live progress on a terminal (a pseudo-terminal
here), and nothing extra when its output is piped or JSON."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from tests.fixtures.sandbox import Sandbox
from tests.reconcile_helpers import write_config

N = 30


def _config(directory: Path, prefix: str = "t", first_number: int = 0) -> Path:
    trunks = "".join(
        f"  {prefix}{i:02d}:\n    address: sip.example.com\n"
        f"    numbers: ['+1555010{first_number + i:04d}']\n"
        for i in range(N)
    )
    return write_config(directory, "outbound_trunks:\n" + trunks)


def _env(sandbox: Sandbox) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT_", "SIPCTL_"))}
    env.pop("NO_COLOR", None)
    return {**env, **sandbox.env, "TERM": "xterm", "COLUMNS": "120"}


def _on_a_terminal(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run with stdin, stdout and stderr on a pseudo-terminal; everything it wrote."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


def test_apply_shows_progress_on_a_terminal(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = _config(tmp_path / "c")
    argv = [sys.executable, "-m", "sipctl", "apply", "--config", str(cfg), "--auto-approve"]
    code, out = _on_a_terminal(argv, _env(sandbox))
    assert code == 0, out
    assert f"\r\x1b[K[{N}/{N}]" in out  # the line, redrawn in place, up to the last change
    assert "running: create t" in out
    assert "Apply complete: 30 applied, 0 failed, 0 not attempted." in out
    # the line is erased before the report is printed
    after_line = out.rpartition(f"[{N}/{N}]")[2]
    assert after_line.index("\r\x1b[K") < after_line.index("applied ")


def test_apply_shows_nothing_extra_when_piped_or_json(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = _config(tmp_path / "c")
    argv = [sys.executable, "-m", "sipctl", "apply", "--config", str(cfg), "--auto-approve"]
    piped = subprocess.run(argv, capture_output=True, text=True, env=_env(sandbox), check=False)
    assert piped.returncode == 0, piped.stderr
    assert "\x1b[K" not in piped.stdout + piped.stderr and "running:" not in piped.stderr
    # JSON on a terminal's stdout (30 other trunks to create): still no progress line
    other = _config(tmp_path / "d", "u", 100)
    json_argv = [*argv[:4], "--config", str(other), "--auto-approve", "--format", "json"]
    code, out = _on_a_terminal(json_argv, _env(sandbox))
    assert code == 0, out
    assert '"status": "applied"' in out
    assert "\x1b[K" not in out and "running:" not in out
