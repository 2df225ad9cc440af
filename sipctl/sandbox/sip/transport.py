"""SIP transports on asyncio: UDP (one datagram, one message) and TCP (Content-Length framing).

Each outbound call owns one transport: a UDP socket bound to an ephemeral port, or
one TCP connection to the trunk. That keeps demultiplexing trivial (everything that
arrives on it belongs to the call) and costs one file descriptor per call. TLS is
refused with :class:`UnsupportedTransport`.

Garbage from the network never raises out of a transport: it is logged and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
from collections.abc import Callable
from typing import Any

from sipctl.sandbox.sip.message import Request, Response, SipParseError, StreamParser, parse_message

Addr = tuple[str, int]
MessageHandler = Callable[[Request | Response, Addr], None]


class TransportError(OSError):
    """Sending failed or the connection broke (the message text is Go-like, for errors)."""


class UnsupportedTransport(ValueError):
    """A transport this user agent does not implement (TLS, SCTP, WS)."""


def local_ip_for(remote_ip: str) -> str:
    """The local address the kernel would use to reach ``remote_ip`` (no packet is sent)."""
    family = socket.AF_INET6 if ":" in remote_ip else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        s.connect((remote_ip, 9))
        return str(s.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        s.close()


class Transport:
    """Common interface; use :func:`open_transport`."""

    name = "UDP"
    reliable = False

    def __init__(self, logger: logging.Logger) -> None:
        self.log = logger
        self.local: Addr = ("0.0.0.0", 0)
        self.on_message: MessageHandler | None = None
        # called once when a connection-oriented transport breaks
        self.on_closed: Callable[[str], None] | None = None
        self.closed = False

    def _deliver(self, data: bytes, source: Addr) -> None:
        try:
            msg = parse_message(data)
        except SipParseError as exc:
            self.log.warning("SIP %s from %s:%d dropped: %s", self.name, *source, exc)
            return
        self._dispatch(msg, source)

    def _dispatch(self, msg: Request | Response, source: Addr) -> None:
        if self.on_message is None:
            return
        try:
            self.on_message(msg, source)
        except SipParseError as exc:
            # a header the handler needed is malformed: treat like unparseable input
            self.log.warning("SIP %s from %s:%d dropped: %s", self.name, *source, exc)

    async def send(self, msg: Request | Response, dest: Addr) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: UdpTransport) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if data.strip(b"\r\n") == b"":
            return  # keep-alive ping
        self.owner._deliver(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        # ICMP errors are not reported on unconnected sockets; anything else is noise
        self.owner.log.debug("SIP UDP socket error: %s", exc)


class UdpTransport(Transport):
    name = "UDP"
    reliable = False

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger)
        self._dt: asyncio.DatagramTransport | None = None

    async def open(self, local_ip: str) -> None:
        loop = asyncio.get_running_loop()
        dt, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), local_addr=(local_ip, 0)
        )
        self._dt = dt
        sock = dt.get_extra_info("sockname")
        self.local = (str(sock[0]), int(sock[1]))

    async def send(self, msg: Request | Response, dest: Addr) -> None:
        if self._dt is None or self.closed:
            raise TransportError("write udp: use of closed network connection")
        try:
            self._dt.sendto(msg.serialize(), dest)
        except OSError as exc:
            raise TransportError(f"write udp {dest[0]}:{dest[1]}: {exc.strerror or exc}") from None

    def close(self) -> None:
        self.closed = True
        if self._dt is not None:
            self._dt.close()


class _TcpProtocol(asyncio.Protocol):
    def __init__(self, owner: TcpTransport) -> None:
        self.owner = owner
        self.parser = StreamParser()

    def data_received(self, data: bytes) -> None:
        for item in self.parser.feed(data):
            if isinstance(item, SipParseError):
                self.owner.log.warning("SIP TCP from %s:%d dropped: %s", *self.owner.remote, item)
            else:
                self.owner._dispatch(item, self.owner.remote)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._lost(exc)


class TcpTransport(Transport):
    name = "TCP"
    reliable = True

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger)
        self._t: asyncio.Transport | None = None
        self.remote: Addr = ("0.0.0.0", 0)

    async def open(
        self,
        local_ip: str,
        remote: Addr,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.remote = remote
        try:
            t, _ = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _TcpProtocol(self),
                    remote[0],
                    remote[1],
                    local_addr=(local_ip, 0),
                    ssl=ssl_context,
                    server_hostname="" if ssl_context is not None else None,
                ),
                timeout,
            )
        except TimeoutError:
            raise TransportError(f"dial tcp {remote[0]}:{remote[1]}: i/o timeout") from None
        except ssl.SSLError as exc:
            # Go: "tls: failed to verify certificate: x509: ..." (the text differs)
            raise TransportError(f"tls: handshake with {remote[0]}:{remote[1]}: {exc}") from None
        except OSError as exc:
            # Go-like text ("connect: connection refused"), not asyncio's wording
            reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            raise TransportError(f"dial tcp {remote[0]}:{remote[1]}: connect: {reason}") from None
        self._t = t
        sock = t.get_extra_info("sockname")
        self.local = (str(sock[0]), int(sock[1]))

    async def send(self, msg: Request | Response, dest: Addr) -> None:
        # one connection per call: in-dialog requests to the same edge reuse it
        if self._t is None or self.closed or self._t.is_closing():
            raise TransportError(
                f"write tcp {self.local[0]}:{self.local[1]}->{self.remote[0]}:{self.remote[1]}: "
                "use of closed network connection"
            )
        self._t.write(msg.serialize())

    def _lost(self, exc: Exception | None) -> None:
        was_closed = self.closed
        self.closed = True
        if not was_closed and self.on_closed is not None:
            reason = "EOF" if exc is None else str(exc)
            self.on_closed(f"read tcp {self.remote[0]}:{self.remote[1]}: {reason}")

    def close(self) -> None:
        self.closed = True
        if self._t is not None:
            with contextlib.suppress(Exception):
                self._t.close()


class TlsTransport(TcpTransport):
    name = "TLS"


def client_tls_context() -> ssl.SSLContext:
    """As livekit/sip pkg/sip/tls.go ConfigureTLS: the server's chain must verify against
    the trusted roots, but its name is not checked (SIP headers usually carry an IP).
    The roots are the system's, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` as Go reads them
    on Linux (OpenSSL's default verify paths honour the same variables)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


async def open_transport(
    kind: str, remote: Addr, logger: logging.Logger, local_ip: str | None = None
) -> Transport:
    """Open a transport towards ``remote`` (``kind``: "udp" or "tcp")."""
    kind = kind.lower()
    ip = local_ip or local_ip_for(remote[0])
    if kind == "udp":
        udp = UdpTransport(logger)
        await udp.open(ip)
        return udp
    if kind == "tcp":
        tcp = TcpTransport(logger)
        await tcp.open(ip, remote)
        return tcp
    if kind == "tls":
        tls = TlsTransport(logger)
        await tls.open(ip, remote, ssl_context=client_tls_context())
        return tls
    raise UnsupportedTransport(f"unsupported SIP transport {kind!r}")
