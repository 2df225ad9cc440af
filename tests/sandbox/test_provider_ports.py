"""The provider launcher on a busy machine: a free port is probed, then bound by Kamailio
or SIPp; another process may take it in between (tests run side by side), and Kamailio
then exits "Address already in use". The launch is tried again on new ports."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipctl.sandbox.provider import Provider, launcher, missing_binaries


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port held on UDP and TCP, as another test's server would hold it."""
    for _ in range(50):  # a port free on UDP may be another test's on TCP: try another
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.bind(("127.0.0.1", port))
        except OSError:
            udp.close()
            tcp.close()
            continue
        tcp.listen()
        yield port
        udp.close()
        tcp.close()
        return
    pytest.fail("no loopback port free on both UDP and TCP in 50 tries")


@pytest.mark.sip
def test_a_port_taken_after_the_probe_gets_a_new_launch(
    tmp_path: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    if missing_binaries():
        pytest.skip("needs kamailio and sipp")
    real = launcher.free_port
    handed: list[int] = []

    def first_the_taken_one() -> int:
        # the race made certain: the probe's answer is taken before Kamailio binds it
        port = taken_port if not handed else real()
        handed.append(port)
        return port

    monkeypatch.setattr(launcher, "free_port", first_the_taken_one)
    prov = Provider(tmp_path / "prov")
    try:
        prov.start()
        assert prov.running
        assert prov.sip_port != taken_port
        assert handed[0] == taken_port
    finally:
        prov.stop()


@pytest.mark.sip
def test_a_port_the_caller_chose_is_not_replaced(tmp_path: Path, taken_port: int) -> None:
    if missing_binaries():
        pytest.skip("needs kamailio and sipp")
    prov = Provider(tmp_path / "prov", sip_port=taken_port)
    with pytest.raises(launcher.ProviderError, match="exited early"):
        prov.start()
    assert prov.sip_port == taken_port
