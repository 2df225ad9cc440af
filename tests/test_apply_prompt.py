"""The apply prompt on a terminal (#12 item 13): Ctrl-C or Ctrl-D cancel cleanly."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.fixtures.sandbox import Sandbox
from tests.reconcile_helpers import write_config

CONFIG = """
outbound_trunks:
  acme:
    address: sip.example.com
    numbers: ["+15550100001"]
"""


def _controlling_tty() -> None:
    # a session of its own with the pty as its terminal: ^C there sends SIGINT to it
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


# read(2) by syscall number, as /proc/PID/syscall shows it
_READ = {"x86_64": 0, "aarch64": 63}.get(os.uname().machine)


def _reading_stdin(pid: int) -> bool:
    """Whether the process is blocked reading its stdin (the prompt's input()). A ^C typed
    between the prompt's text and that read sets Python's signal flag but interrupts no
    call, so input() would wait for a line (the test, for its 60 s): the same happens to a
    person, whose second ^C then cancels. Where /proc cannot tell, the prompt suffices; a
    process on the CPU ("running") is not reading yet (taking it for one let a ^C into that
    window: a CI run's child waited 60 s, then died of the hangup, exit -1)."""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            fields = f.read().split()
    except OSError:
        return True
    if _READ is None:
        return True
    if len(fields) < 2 or not fields[0].isdigit():
        return False  # "running", or between calls ("-1 ..."): ask again
    return int(fields[0]) == _READ and int(fields[1], 16) == 0


def _answer_prompt(argv: list[str], env: dict[str, str], keys: bytes) -> tuple[int, str]:
    """Run on a pseudo-terminal, type ``keys`` once the prompt shows; all it wrote."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, preexec_fn=_controlling_tty
    )
    os.close(slave)
    out = b""
    sent = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            out += data
        if not sent and b"Only 'yes' will be accepted" in out and _reading_stdin(proc.pid):
            os.write(master, keys)
            sent = True
    os.close(master)
    return proc.wait(timeout=30), out.decode("utf-8", "replace")


@pytest.mark.parametrize(("keys", "code"), [(b"\x03", 130), (b"\x04", 1), (b"no\n", 1)])
def test_cancel_at_the_prompt(sandbox: Sandbox, tmp_path: Path, keys: bytes, code: int) -> None:
    cfg = write_config(tmp_path / "c", CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT_", "SIPCTL_"))}
    argv = [sys.executable, "-m", "sipctl", "apply", "--config", str(cfg)]
    got, out = _answer_prompt(argv, {**env, **sandbox.env, "TERM": "xterm"}, keys)
    assert got == code, out
    assert "Apply cancelled; nothing was changed." in out
    assert "internal error" not in out and "Traceback" not in out
    assert sandbox.state()["sip_outbound_trunks"] == []
