"""Real test calls: sandbox (LiveKit API + SIP bridge) -> Kamailio (digest) -> SIPp.

Kept quick: ringing_timeout 2-3 s, hold 0.5 s. Every test checks that no room and no
participant is left behind in the sandbox.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest

from sipctl.dial import CallLimiter, DialRunner, run_calls
from sipctl.livekit.connection import Connection
from sipctl.models import TestCall
from sipctl.results import DialEvent, Reason, Verdict
from sipctl.sandbox.provider import NUMBERS, Provider
from tests.fixtures.sandbox import Sandbox

pytestmark = pytest.mark.sip

MARKER = json.dumps({"sipctl": {"v": 1}})


async def create_trunk(
    sb: Sandbox,
    name: str,
    address: str,
    *,
    username: str = "trunkuser",
    password: str = "trunkpass",
    managed: bool = True,
    transport: str = "auto",
) -> str:
    """A live outbound trunk as `sipctl apply` would leave it (ownership marker)."""
    from livekit import api

    lk = api.LiveKitAPI(sb.url, sb.api_key, sb.api_secret)
    try:
        info = await lk.sip.create_outbound_trunk(
            api.CreateSIPOutboundTrunkRequest(
                trunk=api.SIPOutboundTrunkInfo(
                    name=name,
                    address=address,
                    numbers=["+15550001111"],
                    auth_username=username,
                    auth_password=password,
                    metadata=MARKER if managed else "",
                    transport=getattr(api.SIPTransport, f"SIP_TRANSPORT_{transport.upper()}"),
                )
            )
        )
    finally:
        await lk.aclose()
    return str(info.sip_trunk_id)


def conn(sb: Sandbox) -> Connection:
    return Connection(sb.url, sb.api_key, sb.api_secret)


def tc(to: str, **kw: Any) -> TestCall:
    data: dict[str, Any] = {
        "trunk": "prov",
        "to": to,
        "ringing_timeout": "3s",
        "hold": "500ms",
    }
    data.update(kw)
    return TestCall.model_validate(data)


def assert_clean(sb: Sandbox) -> None:
    state = sb.state()
    assert state["rooms"] == [], state["rooms"]


async def settle_clean(sb: Sandbox) -> None:
    # the bridge leaves the room right after its BYE/CANCEL transaction: allow a moment
    for _ in range(50):
        if not sb.state()["rooms"]:
            return
        await asyncio.sleep(0.1)
    assert_clean(sb)


async def test_answered_busy_unknown_and_wrong_password(
    sandbox: Sandbox, provider: Provider
) -> None:
    await create_trunk(sandbox, "prov", provider.address)
    await create_trunk(sandbox, "badauth", provider.address, password="wrong")
    events: list[DialEvent] = []
    calls = [
        ("answer", tc(NUMBERS["answer"], answer_within="2s")),
        ("busy-expected", tc(NUMBERS["busy"], expect={"sip_status": 486})),
        ("busy-unexpected", tc(NUMBERS["busy"])),
        ("unknown", tc(NUMBERS["unknown"])),
        ("auth", tc(NUMBERS["answer"], trunk="badauth")),
    ]
    results = await run_calls(
        conn(sandbox), calls, parallelism=4, max_per_trunk=2, on_event=events.append
    )
    by = {r.name: r for r in results}
    assert [r.name for r in results] == [n for n, _ in calls]

    a = by["answer"]
    assert a.verdict is Verdict.PASS, a
    assert a.sip_status_code == 200
    assert a.time_to_answer is not None and a.time_to_answer > 0
    assert a.post_dial_delay is None or a.post_dial_delay <= a.time_to_answer
    assert a.duration >= 0.5  # held
    assert a.attempts == 1
    assert a.cleaned_up

    assert by["busy-expected"].verdict is Verdict.PASS
    assert by["busy-expected"].sip_status_code == 486
    assert by["busy-expected"].cause == "rejected with 486 Busy Here, as expected"

    assert by["busy-unexpected"].verdict is Verdict.FAIL
    assert by["busy-unexpected"].cause.startswith("486 Busy Here")

    assert by["unknown"].verdict is Verdict.FAIL
    assert by["unknown"].sip_status_code == 404
    assert by["unknown"].cause.startswith(
        f"404 Not Found: the provider does not know {NUMBERS['unknown']}: check the number"
    )
    assert by["unknown"].reason is Reason.NUMBER

    auth = by["auth"]
    assert auth.verdict is Verdict.FAIL
    assert auth.sip_status_code == 403, auth
    # a 403 after the 407 challenge: the credentials, or the provider's allow-list
    assert auth.cause.startswith("403 Forbidden: credentials accepted by the provider? IP ")
    assert "auth.username/auth.password of trunk badauth" in auth.cause
    assert auth.reason is Reason.AUTH

    statuses = [e.status for e in events if e.kind == "status" and e.name == "answer"]
    assert "active" in statuses
    done = [e.name for e in events if e.kind == "done"]
    assert sorted(done) == sorted(n for n, _ in calls)
    await settle_clean(sandbox)


async def test_no_answer_is_cancelled_and_reported(sandbox: Sandbox, provider: Provider) -> None:
    await create_trunk(sandbox, "prov", provider.address)
    (r,) = await run_calls(
        conn(sandbox),
        [("rings", tc(NUMBERS["ringing"], ringing_timeout="2s"))],
        parallelism=1,
        max_per_trunk=1,
    )
    assert r.verdict is Verdict.FAIL
    assert r.cause.startswith("no answer within 2s (ringing since ")
    assert r.post_dial_delay is not None and r.post_dial_delay < 2
    assert r.sip_status_code is None
    await settle_clean(sandbox)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_provider_port_closed_is_a_fail(sandbox: Sandbox, transport: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # nobody listens there any more (UDP and TCP)
    await create_trunk(sandbox, "prov", f"127.0.0.1:{port}", transport=transport)
    (r,) = await run_calls(
        conn(sandbox),
        [("closed", tc(NUMBERS["answer"], ringing_timeout="2s"))],
        parallelism=1,
        max_per_trunk=1,
    )
    assert r.verdict is Verdict.FAIL, r
    assert r.cause.startswith(f"no SIP response from 127.0.0.1:{port} "), r.cause
    await settle_clean(sandbox)


async def test_trunk_not_applied_is_an_error(sandbox: Sandbox, provider: Provider) -> None:
    await create_trunk(sandbox, "unmanaged", provider.address, managed=False)
    results = await run_calls(
        conn(sandbox),
        [
            ("missing", tc(NUMBERS["answer"], trunk="nowhere")),
            ("foreign", tc(NUMBERS["answer"], trunk="unmanaged")),
        ],
        parallelism=2,
        max_per_trunk=1,
    )
    assert [r.verdict for r in results] == [Verdict.ERROR, Verdict.ERROR]
    assert "sipctl apply" in results[0].cause
    assert "not managed by sipctl" in results[1].cause
    assert_clean(sandbox)


async def test_livekit_unreachable_is_an_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (r,) = await run_calls(
        Connection(f"http://127.0.0.1:{port}", "k", "s" * 32),
        [("x", tc(NUMBERS["answer"]))],
        parallelism=1,
        max_per_trunk=1,
    )
    assert r.verdict is Verdict.ERROR
    assert r.cause.startswith("cannot reach LiveKit at http://127.0.0.1:")


async def test_wrong_api_secret_is_an_error(sandbox: Sandbox) -> None:
    (r,) = await run_calls(
        Connection(sandbox.url, sandbox.api_key, "x" * 40),
        [("x", tc(NUMBERS["answer"]))],
        parallelism=1,
        max_per_trunk=1,
    )
    assert r.verdict is Verdict.ERROR
    assert "LIVEKIT_API_SECRET" in r.cause


async def test_retries_count_attempts(sandbox: Sandbox, provider: Provider) -> None:
    await create_trunk(sandbox, "prov", provider.address)
    (r,) = await run_calls(
        conn(sandbox),
        [("busy", tc(NUMBERS["busy"], retries=2))],
        parallelism=1,
        max_per_trunk=1,
        retry_delay=0.05,
    )
    assert r.verdict is Verdict.FAIL
    assert r.attempts == 3
    await settle_clean(sandbox)


async def test_cancellation_hangs_up_and_deletes_the_room(
    sandbox: Sandbox, provider: Provider
) -> None:
    await create_trunk(sandbox, "prov", provider.address)
    seen: list[str] = []

    def on_event(e: DialEvent) -> None:
        if e.kind == "status" and e.status:
            seen.append(e.status)

    task = asyncio.create_task(
        run_calls(
            conn(sandbox),
            [
                ("ringing", tc(NUMBERS["ringing"], ringing_timeout="20s")),
                ("held", tc(NUMBERS["answer"], hold="20s")),
            ],
            parallelism=2,
            max_per_trunk=2,
            on_event=on_event,
        )
    )
    for _ in range(100):  # until one rings and the other is up
        if "ringing" in seen and "active" in seen:
            break
        await asyncio.sleep(0.05)
    assert "active" in seen
    assert len(sandbox.state()["rooms"]) == 2
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await settle_clean(sandbox)


async def test_per_trunk_cap_holds(sandbox: Sandbox, provider: Provider) -> None:
    await create_trunk(sandbox, "prov", provider.address)
    limiter = CallLimiter(6, 2)
    calls = [(f"c{i}", tc(NUMBERS["answer"], hold="300ms")) for i in range(6)]
    results = await DialRunner(conn(sandbox), limiter).run(calls)
    assert all(r.verdict is Verdict.PASS for r in results), results
    assert limiter.peak["prov"] == 2
    await settle_clean(sandbox)


async def test_livekit_going_away_mid_run_is_an_error_and_spares_the_others(
    sandbox: Sandbox, provider: Provider
) -> None:
    await create_trunk(sandbox, "prov", provider.address)
    seen: list[str] = []

    def on_event(e: DialEvent) -> None:
        if e.kind == "status" and e.status:
            seen.append(e.status)

    task = asyncio.create_task(
        run_calls(
            conn(sandbox),
            [("held", tc(NUMBERS["answer"], hold="2s")), ("next", tc(NUMBERS["answer"]))],
            parallelism=1,
            max_per_trunk=1,
            on_event=on_event,
        )
    )
    for _ in range(100):
        if "active" in seen:
            break
        await asyncio.sleep(0.05)
    assert "active" in seen
    sandbox.kill()
    held, nxt = await asyncio.wait_for(task, 30)
    # answered, but the probe could not hang up: not a pass
    assert held.verdict is Verdict.ERROR
    assert not held.cleaned_up
    assert "could not clean up room" in held.cause
    assert nxt.verdict is Verdict.ERROR
    assert nxt.cause.startswith("cannot reach LiveKit at ")
