"""Start and stop a loopback SIP trunk provider: a Kamailio edge plus a SIPp callee.

    with Provider(tmp_path, env={"SIPPROV_CHALLENGE": "401"}) as prov:
        ... dial sip:+15550100001@127.0.0.1:{prov.sip_port} over UDP or TCP ...

Only 127.0.0.1 is used. Every instance has its own free ports, work directory, pid
file and logs, so several can run side by side. Behaviour is set by SIPPROV_*
environment variables (see ``kamailio/sipprov.cfg``); the number plan is in
:data:`NUMBERS`.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO

from sipctl.sandbox.process import die_with_parent
from sipctl.sandbox.sip.g711 import ulaw_encode

HERE = Path(__file__).resolve().parent
KAMAILIO_CFG = HERE / "kamailio" / "sipprov.cfg"
UAS_SCENARIO = HERE / "sipp" / "uas_provider.xml"
LOOPBACK = "127.0.0.1"

# Dialled numbers of the provider's number plan, one per scenario ("+" optional).
NUMBERS: dict[str, str] = {
    "answer": "+15550100001",
    "busy": "+15550200001",
    "ringing": "+15550300001",
    "early": "+15550400001",
    "unavailable": "+15550500001",
    "hangup": "+15550600001",
    "tone": "+15550800001",  # answers, plays a 1004 Hz tone until the caller hangs up
    "echo": "+15550810001",  # answers, echoes the RTP it receives (SIPp -rtp_echo)
    "silent": "+15550820001",  # answers, sends no RTP at all
    "livekit": "+15550700001",  # forwarded to the LiveKit SIP address (--livekit-sip)
    "unknown": "+15559990001",
}
DEFAULT_USER = "trunkuser"
DEFAULT_PASSWORD = "trunkpass"
DEFAULT_REALM = "sipprov.test"


# Audio the callee streams (raw G.711 u-law, 8 kHz, played by SIPp's rtp_stream): one
# second each, so the 1004 Hz tone (a whole number of cycles per second) loops seamlessly.
AUDIO_RATE = 8000
TONE_HZ = 1004  # the milliwatt test tone
TONE_LEVEL = 0.5  # of full scale (about -6 dBFS)


def tone_ulaw(freq: float = TONE_HZ, seconds: float = 1.0, level: float = TONE_LEVEL) -> bytes:
    n = int(AUDIO_RATE * seconds)
    amp = level * 32767
    return bytes(
        ulaw_encode(round(amp * math.sin(2 * math.pi * freq * i / AUDIO_RATE))) for i in range(n)
    )


def silence_ulaw(seconds: float = 1.0) -> bytes:
    return bytes([ulaw_encode(0)]) * int(AUDIO_RATE * seconds)


def write_audio(workdir: Path) -> None:
    """The files the SIPp scenario streams (relative to its working directory)."""
    (workdir / "silence.pcmu").write_bytes(silence_ulaw())
    (workdir / "tone1004.pcmu").write_bytes(tone_ulaw())


class ProviderError(RuntimeError):
    """The provider could not be started (missing binary, early exit, not ready)."""


def missing_binaries(tls: bool = False) -> list[str]:
    """Names of the programs (and, for TLS, modules) the provider needs but are missing."""
    missing = [name for name in ("kamailio", "sipp") if shutil.which(name) is None]
    if tls:
        if shutil.which("openssl") is None:
            missing.append("openssl")
        if not any(Path(d).joinpath("tls.so").exists() for d in KAMAILIO_MODULE_DIRS):
            missing.append("kamailio-tls-modules")
    return missing


KAMAILIO_MODULE_DIRS = (
    "/usr/lib/x86_64-linux-gnu/kamailio/modules",
    "/usr/lib/aarch64-linux-gnu/kamailio/modules",
    "/usr/lib/kamailio/modules",
    "/usr/local/lib64/kamailio/modules",
)


def make_tls_files(directory: Path) -> Path:
    """A throw-away CA and a server certificate for 127.0.0.1 (openssl CLI, EC P-256),
    and the kamailio tls.cfg that uses them; returns the tls.cfg path."""
    directory.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args: str) -> None:
        subprocess.run(
            ["openssl", *args], cwd=directory, check=True, capture_output=True, timeout=30
        )

    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=sipprov test CA")  # fmt: skip
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.cnf")  # fmt: skip
    cfg = directory / "tls.cfg"
    cfg.write_text(
        "[server:default]\n"
        "method = TLSv1.2+\n"
        "verify_certificate = no\n"
        "require_certificate = no\n"
        f"private_key = {directory / 'server.key'}\n"
        f"certificate = {directory / 'server.crt'}\n"
        "\n[client:default]\n"
        "verify_certificate = no\n"
        "require_certificate = no\n"
    )
    return cfg


_LAUNCHES = 3  # attempts when a probed port was taken before Kamailio or SIPp bound it


def _bindable(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            if kind == socket.SOCK_STREAM:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((LOOPBACK, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (kamailio binds both)."""
    for _ in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((LOOPBACK, 0))
        port = int(s.getsockname()[1])
        s.close()
        if _bindable(port):
            return port
    raise ProviderError("no free UDP+TCP port pair on 127.0.0.1")


def _udp_bound(port: int) -> bool:
    """True when something is bound to 127.0.0.1:port/udp (reads /proc/net/udp)."""
    needle = f"0100007F:{port:04X}"
    try:
        with open("/proc/net/udp") as fh:
            return any(line.split()[1] == needle for line in fh.readlines()[1:])
    except OSError:
        return False


def sip_options(port: int, timeout: float = 0.05, transport: str = "udp") -> str | None:
    """Send OPTIONS to 127.0.0.1:port; return the status line, or None."""
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    s = socket.socket(socket.AF_INET, kind)
    s.settimeout(timeout)
    try:
        # connect() for UDP too: a port nobody bound fails at once (ECONNREFUSED)
        s.connect((LOOPBACK, port))
        lport = s.getsockname()[1]
        branch = "z9hG4bK-" + uuid.uuid4().hex[:12]
        msg = (
            f"OPTIONS sip:{LOOPBACK}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport.upper()} {LOOPBACK}:{lport};branch={branch};rport\r\n"
            f"From: <sip:probe@{LOOPBACK}>;tag={branch[-6:]}\r\n"
            f"To: <sip:{LOOPBACK}:{port}>\r\n"
            f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\n"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        s.sendall(msg)
        data = s.recv(4096)
        return data.split(b"\r\n", 1)[0].decode(errors="replace")
    except OSError:
        return None
    finally:
        s.close()


class Provider:
    """A Kamailio edge (digest auth, dial plan, Record-Route) in front of a SIPp callee."""

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        env: Mapping[str, str] | None = None,
        sip_port: int | None = None,
        uas_port: int | None = None,
        kamailio_children: int = 2,
        udp_children: int = 1,
        debug: int = 2,
        trace_uas: bool = False,
        remove_workdir: bool = False,
        livekit_sip: str | None = None,
        tls: bool = False,
    ) -> None:
        # absolute: kamailio chdirs to -w before it writes -P
        self.workdir = Path(workdir).resolve()
        self.env_overrides: dict[str, str] = dict(env or {})
        self._sip_port = sip_port
        self._uas_port = uas_port
        self.children = kamailio_children
        # One UDP worker keeps the relay order of replies the callee sends back to back
        # (180 then 200): with two, a 200 can overtake its 180 and "ringing" is skipped.
        self.udp_children = udp_children
        self.debug = debug
        self.trace_uas = trace_uas
        # a work directory the provider made for itself goes when it stops
        self.remove_workdir = remove_workdir
        # calls to +1555070... are forwarded there (HOST:PORT of a LiveKit SIP service)
        self.livekit_sip = livekit_sip
        # a TLS listener too (Debian's kamailio-tls-modules), with a CA made per start
        self.tls = tls
        self._tls_port: int | None = None
        self.kam: subprocess.Popen[bytes] | None = None
        self.uas: subprocess.Popen[bytes] | None = None
        self.echo_uas: subprocess.Popen[bytes] | None = None
        self._echo_port: int | None = None
        self._port_taken = False  # the last launch failed on a port taken meanwhile
        self.timings: dict[str, float] = {}
        self._logs: list[IO[bytes]] = []

    # -- what callers need --------------------------------------------------------
    @property
    def host(self) -> str:
        return LOOPBACK

    @property
    def sip_port(self) -> int:
        if self._sip_port is None:
            raise ProviderError("provider not started")
        return self._sip_port

    @property
    def uas_port(self) -> int:
        if self._uas_port is None:
            raise ProviderError("provider not started")
        return self._uas_port

    @property
    def address(self) -> str:
        """What a trunk's ``address`` field should hold: ``127.0.0.1:PORT``."""
        return f"{LOOPBACK}:{self.sip_port}"

    @property
    def tls_port(self) -> int:
        if self._tls_port is None:
            raise ProviderError("provider not started with tls=True")
        return self._tls_port

    @property
    def tls_address(self) -> str:
        return f"{LOOPBACK}:{self.tls_port}"

    @property
    def ca_file(self) -> Path:
        """The CA that signed the TLS listener's certificate (trust it to dial TLS)."""
        return self.workdir / "tls" / "ca.crt"

    @property
    def username(self) -> str:
        return self.env_overrides.get("SIPPROV_USER") or DEFAULT_USER

    @property
    def password(self) -> str:
        return self.env_overrides.get("SIPPROV_PASS") or DEFAULT_PASSWORD

    @property
    def realm(self) -> str:
        return self.env_overrides.get("SIPPROV_REALM") or DEFAULT_REALM

    @property
    def running(self) -> bool:
        return all(p is not None and p.poll() is None for p in (self.kam, self.uas, self.echo_uas))

    # -- lifecycle ----------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> Provider:
        """Start Kamailio and the SIPp lines; ready when all answer. A free port is probed,
        then bound by another process: a server starting meanwhile (tests run side by
        side) can take it first, and the launch is then tried again on new ports (the
        ports a caller chose are kept)."""
        chosen = (self._sip_port, self._uas_port, self._tls_port)
        for attempt in range(1, _LAUNCHES + 1):
            self._port_taken = False
            try:
                return self._start(timeout)
            except ProviderError:
                if attempt == _LAUNCHES or not self._port_taken:
                    raise
            self._sip_port, self._uas_port, self._tls_port = chosen
        raise AssertionError("unreachable")  # pragma: no cover

    def _port_was_taken(self) -> bool:
        for name in ("kamailio.log", "uas_screen.log", "echo_screen.log"):
            try:
                text = (self.workdir / name).read_text(errors="replace")
            except OSError:
                continue
            if "Address already in use" in text or "Unable to bind" in text:
                return True
        return False

    def _start(self, timeout: float) -> Provider:
        missing = missing_binaries(self.tls)
        if missing:
            raise ProviderError(
                f"not installed: {', '.join(missing)} "
                "(Debian packages kamailio, sip-tester, openssl, kamailio-tls-modules)"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        write_audio(self.workdir)
        t0 = time.monotonic()
        self._sip_port = self._sip_port or free_port()
        self._uas_port = self._uas_port or free_port()
        env = dict(os.environ)
        env["SIPPROV_UAS"] = f"{LOOPBACK}:{self._uas_port}"
        if self.livekit_sip:
            env["SIPPROV_LIVEKIT"] = self.livekit_sip
        env.update(self.env_overrides)

        tls_args: list[str] = []
        if self.tls:
            self._tls_port = self._tls_port or free_port()
            tls_cfg = make_tls_files(self.workdir / "tls")
            tls_args = [
                "-l",
                f"tls:{LOOPBACK}:{self._tls_port}",
                "-A",
                "WITH_TLS",
                "-A",
                f'TLS_CFG="{tls_cfg}"',
            ]
        kam_log = open(self.workdir / "kamailio.log", "wb")  # noqa: SIM115 - closed in stop()
        self._logs = [kam_log]
        self.uas = self._sipp("uas", self._uas_port, env, echo=False)
        # SIPp's RTP echo (-rtp_echo) covers the whole process: the echo line gets its own
        self._echo_port = free_port()
        env["SIPPROV_ECHO_UAS"] = f"{LOOPBACK}:{self._echo_port}"
        self.echo_uas = self._sipp("echo", self._echo_port, env, echo=True)
        # -DD: the creator stays in the foreground (the pid we signal); -E: log to stderr
        self.kam = subprocess.Popen(
            [
                "kamailio",
                "-f",
                str(KAMAILIO_CFG),
                "-l",
                f"udp:{LOOPBACK}:{self._sip_port}",
                "-l",
                f"tcp:{LOOPBACK}:{self._sip_port}",
                *tls_args,
                "-P",
                str(self.workdir / "kamailio.pid"),
                "-w",
                str(self.workdir),
                "-Y",
                str(self.workdir),
                "-DD",
                "-E",
                "-a",
                "no",
                "-n",
                str(self.udp_children),
                "-N",
                str(self.children),
                "-m",
                "32",
                "-M",
                "4",
                f"--debug={self.debug}",
            ],
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=kam_log,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )

        deadline = t0 + timeout
        kam_ready: float | None = None
        uas_ready: float | None = None
        while True:
            for proc, name in ((self.kam, "kamailio"), (self.uas, "sipp"), (self.echo_uas, "sipp")):
                if proc is not None and proc.poll() is not None:
                    rc = proc.returncode
                    self._port_taken = self._port_was_taken()  # read before stop() clears
                    self.stop()
                    raise ProviderError(f"{name} exited early rc={rc}, see {self.workdir}")
            if uas_ready is None and _udp_bound(self._uas_port) and _udp_bound(self._echo_port):
                uas_ready = time.monotonic()
            if kam_ready is None and (sip_options(self._sip_port) or "").startswith("SIP/2.0 200"):
                kam_ready = time.monotonic()
            if kam_ready is not None and uas_ready is not None:
                break
            if time.monotonic() > deadline:
                self.stop()
                raise ProviderError(f"provider not ready in {timeout}s, see {self.workdir}")
            time.sleep(0.005)
        self.timings = {
            "uas_ready_ms": (uas_ready - t0) * 1000,
            "kamailio_ready_ms": (kam_ready - t0) * 1000,
            "all_ready_ms": (max(kam_ready, uas_ready) - t0) * 1000,
        }
        return self

    def stop(self, timeout: float = 3.0) -> None:
        """SIGTERM, repeated (kamailio's main process can miss one sent during start-up),
        then SIGKILL each process group (both run in their own session)."""
        procs = [p for p in (self.kam, self.uas, self.echo_uas) if p is not None]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(p.poll() is None for p in procs):
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            end = min(deadline, time.monotonic() + 0.25)
            while time.monotonic() < end and any(p.poll() is None for p in procs):
                time.sleep(0.005)
        for p in procs:
            # also reaps kamailio workers that outlived their creator
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
            if p.poll() is None:
                p.wait(timeout)
        for fh in self._logs:
            fh.close()
        self._logs = []
        if self.remove_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _sipp(
        self, name: str, port: int, env: dict[str, str], *, echo: bool
    ) -> subprocess.Popen[bytes]:
        """One SIPp callee running the provider scenario on ``port`` (UDP)."""
        log = open(self.workdir / f"{name}_screen.log", "wb")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        trace = (
            ["-trace_msg", "-message_file", str(self.workdir / f"{name}_msg.log")]
            if self.trace_uas
            else []
        )
        # -ci/-mi keep SIPp's control and media sockets on loopback; -nostdin: no tty
        return subprocess.Popen(
            [
                "sipp",
                "-sf",
                str(UAS_SCENARIO),
                "-i",
                LOOPBACK,
                "-p",
                str(port),
                "-t",
                "u1",
                "-mi",
                LOOPBACK,
                "-ci",
                LOOPBACK,
                "-cp",
                str(free_port()),
                "-nostdin",
                *(["-rtp_echo"] if echo else []),
                "-trace_err",
                "-error_file",
                str(self.workdir / f"{name}_errors.log"),
                *trace,
            ],
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )

    def log_tail(self, name: str = "kamailio.log", lines: int = 40) -> str:
        """The end of one of the provider's logs (for test failure messages)."""
        try:
            text = (self.workdir / name).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Provider:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
