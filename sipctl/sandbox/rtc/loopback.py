"""Keep the sandbox's WebRTC traffic on loopback addresses.

aioice (aiortc's ICE agent) gathers host candidates on every interface except
127.0.0.1 and answers a connectivity check from wherever it came. The sandbox is a
loopback-only server, so it offers 127.0.0.1 only, accepts only loopback candidates
from clients, and ignores datagrams from anywhere else: a check from a non-loopback
source is never answered, so no pair with a non-loopback address can form.

libwebrtc (inside the official SDK) never gathers on the loopback adapter
(``network_ignore_mask`` defaults to ``ADAPTER_TYPE_LOOPBACK``), so a client on the same
machine needs another interface carrying a 127.x address; the tests run in a network
namespace with such an interface (see tests/sandbox/rtc_netns.py).
"""

from __future__ import annotations

import ipaddress
from typing import Any

import aioice.ice

LOOPBACK_HOST = "127.0.0.1"
_installed = False


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a hostname (mDNS ".local" or other): never resolved
        return False


def install() -> None:
    """Patch aioice once per process (the sandbox is its only WebRTC user)."""
    global _installed
    if _installed:
        return
    _installed = True

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [LOOPBACK_HOST] if use_ipv4 else []

    aioice.ice.get_host_addresses = host_addresses
    received = aioice.ice.StunProtocol.datagram_received

    def loopback_only(
        self: aioice.ice.StunProtocol, data: bytes | str, addr: tuple[Any, ...]
    ) -> None:
        if is_loopback(str(addr[0])):
            received(self, data, addr)

    aioice.ice.StunProtocol.datagram_received = loopback_only  # type: ignore[method-assign,unused-ignore]


def candidate_host(candidate: str) -> str:
    """The connection address of an SDP ``candidate:`` line ("" when malformed)."""
    parts = candidate.removeprefix("a=").split()
    return parts[4] if len(parts) > 5 else ""
