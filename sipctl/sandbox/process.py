"""Run the sandbox as a child process: for tests, benchmarks and the demo.

    with SandboxProcess(workdir) as sb:        # a free loopback port, ready when it returns
        env = {**os.environ, **sb.env}          # LIVEKIT_URL / _API_KEY / _API_SECRET
        sb.set_faults(latency_ms=50)            # POST /_sandbox/faults
        sb.state()["sip_outbound_trunks"]       # what the sandbox really holds

The child runs in its own session with PR_SET_PDEATHSIG, so a killed parent leaves no
orphan; ``stop()`` sends SIGTERM and checks for a clean exit. Start it from the main thread
(PDEATHSIG follows the thread that started it).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

REPO = Path(__file__).resolve().parents[2]
API_KEY = "devkey"
API_SECRET = "secret"  # the defaults of `livekit-server --dev`


class SandboxError(RuntimeError):
    """The sandbox process did not start, stop or answer as expected."""


def die_with_parent() -> None:
    """preexec_fn: SIGTERM this child when the thread that started it dies."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class SandboxProcess:
    """One ``python -m sipctl.sandbox`` process; restartable on the same port and data dir."""

    def __init__(
        self,
        workdir: Path,
        *,
        data_dir: Path | None = None,
        persist: bool = True,
        mask_secrets: bool = False,
        api_key: str = API_KEY,
        api_secret: str = API_SECRET,
        extra_args: Sequence[str] = (),
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir: Path | None = (data_dir or workdir / "data") if persist else None
        self.mask_secrets = mask_secrets
        self.api_key = api_key
        self.api_secret = api_secret
        self.extra_args = list(extra_args)
        self.extra_env = dict(env or {})  # e.g. SSL_CERT_FILE: the CA a TLS trunk needs
        self.port = port or free_port()
        self.log = workdir / "sandbox.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.sip_port: int | None = None  # with --sip-port: the port it listens on

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            "LIVEKIT_URL": self.url,
            "LIVEKIT_API_KEY": self.api_key,
            "LIVEKIT_API_SECRET": self.api_secret,
        }

    def argv(self) -> list[str]:
        args = [sys.executable, "-m", "sipctl.sandbox", "--port", str(self.port)]
        args += ["--api-key", self.api_key, "--api-secret", self.api_secret]
        if self.data_dir is not None:
            args += ["--data-dir", str(self.data_dir)]
        if self.mask_secrets:
            args.append("--mask-secrets")
        return args + self.extra_args

    def start(self, timeout: float = 15.0) -> SandboxProcess:
        for _ in range(3):
            if self._launch(timeout):
                return self
            self.port = free_port()  # lost a race for the port: try another one
        raise SandboxError(f"sandbox could not bind a port:\n{self.log_text()}")

    def _launch(self, timeout: float) -> bool:
        env = {**os.environ, **self.extra_env}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as log:
            proc = self.process = subprocess.Popen(
                self.argv(),
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.process = None
                if "address already in use" in self.log_text()[offset:]:
                    return False
                raise SandboxError(f"sandbox exited early rc={proc.returncode}:\n{self.log_text()}")
            with contextlib.suppress(OSError):
                status, body = self.admin("GET", "ready")
                # Another test's server may answer on a reused port: check it is ours.
                if status == 200 and body.get("pid") == proc.pid:
                    self.sip_port = body.get("sip_port")
                    return True
            time.sleep(0.02)
        self.kill()
        raise SandboxError(f"sandbox not ready in {timeout}s:\n{self.log_text()}")

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; assert a clean exit (rc 0). Returns the exit code."""
        proc = self.process
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise SandboxError(
                    f"sandbox ignored SIGTERM for {timeout}s:\n{self.log_text()}"
                ) from None
        self.process = None
        if proc.returncode != 0:
            raise SandboxError(f"sandbox exit code {proc.returncode}:\n{self.log_text()}")
        return proc.returncode

    def kill(self) -> None:
        proc = self.process
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
            self.process = None

    def restart(self) -> SandboxProcess:
        self.stop()
        return self.start()

    def wait_exit(self, timeout: float = 10.0) -> int:
        """Wait for the process to exit by itself (e.g. ``--stop-after``)."""
        if self.process is None:
            raise SandboxError("the sandbox is not running")
        rc = self.process.wait(timeout)
        self.process = None
        return rc

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    # --- admin API -----------------------------------------------------------------------

    def admin(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.url}/_sandbox/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def _ok(self, method: str, path: str, body: object = None) -> Any:
        status, data = self.admin(method, path, body)
        if status != 200:
            raise SandboxError(f"{method} /_sandbox/{path}: {status} {data}")
        return data

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self._ok("GET", "state")
        return result

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._ok("POST", "faults", faults)
        return result

    def clear_faults(self) -> None:
        self._ok("DELETE", "faults")

    def reset(self) -> None:
        self._ok("POST", "reset")

    def flush(self) -> None:
        self._ok("POST", "flush")

    def __enter__(self) -> SandboxProcess:
        return self.start() if self.process is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        except SandboxError:
            self.kill()
