"""The user agent against a real provider: Kamailio (digest, Record-Route) + SIPp callee."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from sipctl.sandbox.provider import NUMBERS, Provider
from sipctl.sandbox.sip.message import Address, SipURI
from sipctl.sandbox.sip.transaction import Timers
from sipctl.sandbox.sip.uac import (
    Call,
    CallCanceled,
    CallSpec,
    CallTransportError,
    InviteRejected,
    NoFinalResponse,
)
from tests.fixtures.provider import ProviderFactory

pytestmark = pytest.mark.sip
LOG = logging.getLogger("test.sip.uac")
TRANSPORTS = ["udp", "tcp"]


def make_call(
    prov: Provider | None,
    scenario: str,
    transport: str,
    *,
    user: str = "trunkuser",
    password: str = "trunkpass",
    port: int | None = None,
    timers: Timers | None = None,
) -> Call:
    port = port or (prov.sip_port if prov else 9)
    tp = ";transport=tcp" if transport == "tcp" else ""
    uri = SipURI.parse(f"sip:{NUMBERS[scenario]}@127.0.0.1:{port}{tp}")
    spec = CallSpec(
        request_uri=uri,
        to=Address(uri),
        from_=Address(SipURI.parse("sip:+15557770000@127.0.0.1"), "+15557770000"),
        local_tag="SCL_test",
        call_id=f"test-{scenario}-{transport}-{time.monotonic_ns()}",
        transport=transport,
        dest=("127.0.0.1", port),
        username=user,
        password=password,
    )
    return Call(spec, LOG, timers)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_answered_then_we_hang_up(provider: Provider, transport: str) -> None:
    call = make_call(provider, "answer", transport)
    try:
        ok = await call.invite(timeout=5)
        assert ok.status == 200 and call.ringing.is_set() and call.answered.is_set()
        assert ok.headers.get("X-Provider-Scenario") == "answer"
        # the edge record-routes (twice when it changes transport): ACK/BYE follow it
        assert len(ok.headers.get_all("Record-Route")) == (2 if transport == "tcp" else 1)
        await asyncio.sleep(0.1)
        assert call.rtp.packets_sent >= 3  # silence flows every 20 ms
        bye = await call.bye(timeout=3)
        assert bye is not None and bye.status == 200
        assert call.end_reason == "local-bye"
    finally:
        await call.aclose()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_early_media_then_answer(provider: Provider, transport: str) -> None:
    call = make_call(provider, "early", transport)
    seen: list[int] = []
    call.on_provisional = lambda r: seen.append(r.status)
    try:
        assert (await call.invite(timeout=5)).status == 200
        assert 183 in seen and call.ringing.is_set()
        assert (await call.bye(timeout=3) or None) is not None
    finally:
        await call.aclose()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_far_end_hangs_up(provider: Provider, transport: str) -> None:
    call = make_call(provider, "hangup", transport)
    try:
        await call.invite(timeout=5)
        await asyncio.wait_for(call.remote_bye.wait(), 5)
        assert call.end_reason == "remote-bye"
        assert await call.bye() is None  # nothing left to hang up
    finally:
        await call.aclose()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("scenario", "status"),
    [("busy", 486), ("unavailable", 503), ("unknown", 404)],
)
async def test_rejected(provider: Provider, transport: str, scenario: str, status: int) -> None:
    call = make_call(provider, scenario, transport)
    try:
        with pytest.raises(InviteRejected) as info:
            await call.invite(timeout=5)
        assert info.value.status == status
        assert call.failed.is_set() and call.error is info.value
    finally:
        await call.aclose()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_wrong_password_is_403(provider: Provider, transport: str) -> None:
    call = make_call(provider, "answer", transport, password="wrong")
    try:
        with pytest.raises(InviteRejected) as info:
            await call.invite(timeout=5)
        assert info.value.status == 403
        assert call._cseq == 2  # one challenge, one authenticated attempt
    finally:
        await call.aclose()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_ringing_then_cancel_gets_487(provider: Provider, transport: str) -> None:
    call = make_call(provider, "ringing", transport)
    t0 = time.monotonic()
    with pytest.raises(CallCanceled, match="sip request timed out"):
        await call.invite(timeout=0.5)
    assert time.monotonic() - t0 > 0.45  # CANCEL at the timeout, not before
    assert call.ringing.is_set()
    await call.aclose()
    tx = call._invite_tx
    assert tx is not None and tx.final is not None and tx.final.status == 487


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_401_without_qop(provider_factory: ProviderFactory, transport: str) -> None:
    prov = provider_factory(
        SIPPROV_CHALLENGE="401", SIPPROV_QOP="0", SIPPROV_USER="acme", SIPPROV_PASS="s3cret"
    )
    call = make_call(prov, "answer", transport, user="acme", password="s3cret")
    try:
        assert (await call.invite(timeout=5)).status == 200
        await call.bye(timeout=3)
    finally:
        await call.aclose()
    wrong_user = make_call(prov, "answer", transport, user="mallory", password="s3cret")
    try:
        with pytest.raises(InviteRejected) as info:
            await wrong_user.invite(timeout=5)
        assert info.value.status == 403
    finally:
        await wrong_user.aclose()


async def test_provider_gives_up_ringing_with_408(provider_factory: ProviderFactory) -> None:
    prov = provider_factory(SIPPROV_RING_MS="300")
    call = make_call(prov, "ringing", "udp")
    try:
        with pytest.raises(InviteRejected) as info:
            await call.invite(timeout=5)
        assert info.value.status == 408
    finally:
        await call.aclose()


async def test_nothing_listening_udp_times_out_with_timer_b() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))  # a port that swallows everything
    port = sock.getsockname()[1]
    try:
        call = make_call(None, "answer", "udp", port=port, timers=Timers(t1=0.01))
        with pytest.raises(
            NoFinalResponse, match=r"transaction failed to complete \(0 intermediate"
        ):
            await call.invite(timeout=10)
        await call.aclose()
    finally:
        sock.close()


async def test_nothing_listening_tcp_is_a_transport_error() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # bound once, now closed: connection refused
    call = make_call(None, "answer", "tcp", port=port)
    with pytest.raises(CallTransportError, match="connect: connection refused"):
        await call.invite(timeout=2)
    await call.aclose()


async def test_concurrent_calls_on_one_provider(provider: Provider) -> None:
    calls = [make_call(provider, "answer", TRANSPORTS[i % 2]) for i in range(40)]
    try:
        results = await asyncio.gather(*(c.invite(timeout=10) for c in calls))
        assert all(r.status == 200 for r in results)
        byes = await asyncio.gather(*(c.bye(timeout=5) for c in calls))
        assert all(b is not None and b.status == 200 for b in byes)
    finally:
        await asyncio.gather(*(c.aclose() for c in calls))


def test_python_m_provider_runs_in_foreground_and_stops_on_sigterm(
    tmp_path: os.PathLike[str],
) -> None:
    from sipctl.sandbox.provider import missing_binaries, sip_options

    if missing_binaries():
        pytest.skip("kamailio/sipp not installed")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sipctl.sandbox.provider", "--workdir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("ready sip=127.0.0.1:"), line
        port = int(line.split()[1].split(":")[1])
        assert (sip_options(port, timeout=1) or "").startswith("SIP/2.0 200")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0 and "stopped" in out
        assert sip_options(port, timeout=0.2) is None  # kamailio is gone
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
