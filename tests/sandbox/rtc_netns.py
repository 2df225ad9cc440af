"""A loopback-only network namespace for tests where the official real-time SDK joins.

libwebrtc (inside the ``livekit`` SDK) never gathers ICE candidates on the loopback
adapter, so on a normal machine it would reach the sandbox only through the machine's
own non-loopback addresses, which the tests must not use. In a fresh network namespace
the only interfaces are ``lo`` and a veth pair whose one end carries 127.0.0.2/32 (not
flagged as loopback, so libwebrtc uses it): every packet then goes between 127.0.0.1 and
127.0.0.2, and nothing else is reachable.

The test thread enters the namespace for each test (``setns``) and leaves it after; the
sandbox, Kamailio and SIPp it starts, and the SDK's threads (created on its first use),
live in it. One namespace serves the whole session: the SDK's threads stay in it.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

CLONE_NEWNET = 0x40000000
CLIENT_ADDRESS = "127.0.0.2"
_NS = "/proc/thread-self/ns/net"
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


class LoopbackNetns:
    def __init__(self) -> None:
        self.host_fd = os.open(_NS, os.O_RDONLY)
        if _libc.unshare(CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            os.close(self.host_fd)
            raise OSError(err, f"unshare(CLONE_NEWNET): {os.strerror(err)}")
        try:
            self.fd = os.open(_NS, os.O_RDONLY)
            for cmd in (
                "link set lo up",
                "link add sbx0 type veth peer name sbx1",
                "link set sbx0 addrgenmode none",
                "link set sbx1 addrgenmode none",
                f"addr add {CLIENT_ADDRESS}/32 dev sbx0",
                "link set sbx1 up",
                "link set sbx0 up",
            ):
                subprocess.run(["ip", *cmd.split()], check=True, capture_output=True)
        finally:
            _setns(self.host_fd)

    @contextlib.contextmanager
    def inside(self) -> Iterator[None]:
        _setns(self.fd)
        try:
            yield
        finally:
            _setns(self.host_fd)


@functools.cache
def _the_netns() -> LoopbackNetns | str:
    """One per process (the SDK's threads stay where they were created): the namespace,
    or why there is none."""
    if shutil.which("ip") is None:
        return "needs iproute2's `ip` to set up a loopback-only network namespace"
    try:
        return LoopbackNetns()
    except (OSError, subprocess.CalledProcessError) as e:
        return f"cannot create a loopback-only network namespace (needs CAP_SYS_ADMIN): {e}"


@pytest.fixture
def rtc_netns() -> LoopbackNetns:
    netns = _the_netns()
    if isinstance(netns, str):
        pytest.skip(netns)
    return netns


@pytest.fixture(autouse=True)
def _inside_rtc_netns(rtc_netns: LoopbackNetns) -> Iterator[None]:
    """Every test of a module that imports this runs inside the namespace."""
    with rtc_netns.inside():
        yield
