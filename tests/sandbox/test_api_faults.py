"""Fault injection (``/_sandbox/faults`` and CLI flags), persistence and secret masking."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp
import pytest
from google.protobuf.message import DecodeError
from livekit import api
from livekit.protocol import sip

from tests.fixtures.sandbox import Sandbox, SandboxFactory, make_token, post_raw

TRUNK = sip.SIPOutboundTrunkInfo(
    name="t", address="h.example.com", numbers=["+1"], auth_username="u", auth_password="pw"
)
CREATE = sip.CreateSIPOutboundTrunkRequest(trunk=TRUNK)
LIST = sip.ListSIPOutboundTrunkRequest()


def client(sb: Sandbox) -> api.LiveKitAPI:
    return api.LiveKitAPI(sb.url, sb.api_key, sb.api_secret)


async def test_error_before_changes_nothing(sandbox: Sandbox, lkapi: api.LiveKitAPI) -> None:
    sandbox.set_faults(errors=[{"method": "CreateSIPOutboundTrunk", "code": "unavailable"}])
    with pytest.raises(api.TwirpError) as err:
        await lkapi.sip.create_outbound_trunk(CREATE)
    assert (err.value.code, err.value.status, err.value.message) == (
        "unavailable",
        503,
        "injected fault",
    )
    assert sandbox.state()["sip_outbound_trunks"] == []
    # Other methods are untouched.
    assert (await lkapi.sip.list_outbound_trunk(LIST)).items == []


async def test_error_after_stores_then_fails(sandbox: Sandbox, lkapi: api.LiveKitAPI) -> None:
    sandbox.set_faults(
        errors=[{"method": "CreateSIPOutboundTrunk", "code": "internal", "when": "after"}]
    )
    with pytest.raises(api.TwirpError) as err:
        await lkapi.sip.create_outbound_trunk(CREATE)
    assert (err.value.code, err.value.status) == ("internal", 500)
    assert [t["name"] for t in sandbox.state()["sip_outbound_trunks"]] == ["t"]
    sandbox.clear_faults()
    assert len((await lkapi.sip.list_outbound_trunk(LIST)).items) == 1


async def test_error_rate_is_reproducible_with_seed(sandbox: Sandbox) -> None:
    async def outcomes() -> list[bool]:
        sandbox.set_faults(errors=[{"method": "*", "rate": 0.5}], seed=7)
        lk = client(sandbox)
        results = []
        try:
            for _ in range(20):
                try:
                    await lk.sip.list_outbound_trunk(LIST)
                    results.append(True)
                except api.TwirpError:
                    results.append(False)
        finally:
            await lk.aclose()
        return results

    first, second = await outcomes(), await outcomes()
    assert first == second and True in first and False in first


async def test_latency(sandbox: Sandbox, lkapi: api.LiveKitAPI) -> None:
    sandbox.set_faults(latency_ms=300)
    started = time.monotonic()
    await lkapi.sip.list_outbound_trunk(LIST)
    assert time.monotonic() - started >= 0.3


async def test_reset_connection(sandbox: Sandbox, lkapi: api.LiveKitAPI) -> None:
    sandbox.set_faults(reset_connection_rate=1)
    with pytest.raises(aiohttp.ClientError):
        await lkapi.sip.list_outbound_trunk(LIST)
    sandbox.clear_faults()
    assert (await lkapi.sip.list_outbound_trunk(LIST)).items == []


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
async def test_garbage_answers(sandbox: Sandbox, lkapi: api.LiveKitAPI, kind: str) -> None:
    await lkapi.sip.create_outbound_trunk(CREATE)
    sandbox.set_faults(garbage={"method": "ListSIPOutboundTrunk", "kind": kind}, seed=1)
    with pytest.raises((DecodeError, api.TwirpError)):
        await lkapi.sip.list_outbound_trunk(LIST)
    status, ctype, body = await post_raw(
        sandbox,
        "/twirp/livekit.SIP/ListSIPOutboundTrunk",
        token=make_token(sandbox, sip_admin=True),
    )
    assert (status, ctype) == (200, "application/json")
    with pytest.raises(ValueError):
        json.loads(body)


async def test_html_answer(sandbox: Sandbox, lkapi: api.LiveKitAPI) -> None:
    sandbox.set_faults(garbage={"method": "*", "kind": "html"})
    with pytest.raises(api.TwirpError) as err:
        await lkapi.sip.list_outbound_trunk(LIST)
    assert (err.value.code, err.value.status) == ("unknown", 502)


async def test_bad_answers(sandbox: Sandbox, lkapi: api.LiveKitAPI) -> None:
    await lkapi.sip.create_outbound_trunk(CREATE)
    sandbox.set_faults(bad_answers={"method": "ListSIPOutboundTrunk", "kind": "unknown_enum"})
    items = (await lkapi.sip.list_outbound_trunk(LIST)).items
    assert items[0].transport == 99
    sandbox.set_faults(bad_answers=[{"method": "ListSIPOutboundTrunk", "kind": "missing_fields"}])
    items = (await lkapi.sip.list_outbound_trunk(LIST)).items
    assert (
        items[0].sip_trunk_id == "" and items[0].name == "" and items[0].address == "h.example.com"
    )
    # The store itself is intact.
    assert sandbox.state()["sip_outbound_trunks"][0]["sip_trunk_id"].startswith("ST_")


async def test_stop_after(sandbox: Sandbox, lkapi: api.LiveKitAPI) -> None:
    sandbox.set_faults(stop_after=2)
    await lkapi.sip.create_outbound_trunk(CREATE)
    await lkapi.sip.list_outbound_trunk(LIST)
    assert sandbox.wait_exit() == 0
    # The trunk created before the stop was flushed on the clean exit.
    sandbox.start()
    assert len(sandbox.state()["sip_outbound_trunks"]) == 1


async def test_bad_fault_config_is_rejected(sandbox: Sandbox) -> None:
    status, body = sandbox.admin("POST", "faults", {"errors": [{"code": "nope"}]})
    assert status == 400 and "unknown twirp code" in body["error"]


def test_cli_fault_flags(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(
        extra_args=["--error-rate", "ListSIPOutboundTrunk=1:aborted", "--seed", "3"]
    )
    faults = sb.state()["faults"]
    assert faults["errors"][0] == {
        "method": "ListSIPOutboundTrunk",
        "rate": 1.0,
        "code": "aborted",
        "when": "before",
        "msg": "injected fault",
    }
    assert faults["seed"] == 3


async def test_reset_endpoint(sandbox: Sandbox, lkapi: api.LiveKitAPI) -> None:
    await lkapi.sip.create_outbound_trunk(CREATE)
    sandbox.set_faults(latency_ms=1)
    sandbox.reset()
    state = sandbox.state()
    assert state["sip_outbound_trunks"] == [] and state["faults"]["latency_ms"] == 0


# --- persistence and masking -----------------------------------------------------------


async def test_persistence_across_restart(sandbox: Sandbox) -> None:
    lk = client(sandbox)
    try:
        created = [await lk.sip.create_outbound_trunk(CREATE) for _ in range(3)]
        await lk.sip.delete_trunk(sip.DeleteSIPTrunkRequest(sip_trunk_id=created[0].sip_trunk_id))
        rule = await lk.sip.create_dispatch_rule(
            sip.CreateSIPDispatchRuleRequest(
                dispatch_rule=sip.SIPDispatchRuleInfo(
                    rule=sip.SIPDispatchRule(
                        dispatch_rule_direct=sip.SIPDispatchRuleDirect(room_name="r")
                    )
                )
            )
        )
    finally:
        await lk.aclose()
    sandbox.restart()
    lk = client(sandbox)
    try:
        items = (await lk.sip.list_outbound_trunk(LIST)).items
        rules = (await lk.sip.list_dispatch_rule(sip.ListSIPDispatchRuleRequest())).items
    finally:
        await lk.aclose()
    assert list(items) == sorted(created[1:], key=lambda t: t.sip_trunk_id)
    assert list(rules) == [rule]
    assert sandbox.data_dir is not None
    files = sorted(p.name for p in (sandbox.data_dir / "sip_outbound_trunks").iterdir())
    assert files == sorted(f"{t.sip_trunk_id}.json" for t in created[1:])


async def test_flush_happens_without_shutdown(sandbox: Sandbox, lkapi: api.LiveKitAPI) -> None:
    t = await lkapi.sip.create_outbound_trunk(CREATE)
    assert sandbox.data_dir is not None
    path = Path(sandbox.data_dir) / "sip_outbound_trunks" / f"{t.sip_trunk_id}.json"
    for _ in range(100):
        if path.exists():
            break
        await asyncio.sleep(0.02)
    assert json.loads(path.read_text())["auth_password"] == "pw"


def test_memory_only_without_data_dir(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(persist=False)
    assert "--data-dir" not in sb.argv()
    assert not (sb.workdir / "data").exists()


async def test_mask_secrets(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(mask_secrets=True)
    lk = client(sb)
    try:
        created = await lk.sip.create_outbound_trunk(CREATE)
        listed = (await lk.sip.list_outbound_trunk(LIST)).items
        updated = await lk.sip.update_outbound_trunk_fields(created.sip_trunk_id, name="x")
    finally:
        await lk.aclose()
    assert created.auth_password == listed[0].auth_password == updated.auth_password == ""
    assert listed[0].auth_username == "u"
    # The sandbox still holds the real secret (loopback test tooling shows it).
    assert sb.state()["sip_outbound_trunks"][0]["auth_password"] == "pw"


async def test_sigterm_answers_in_flight_requests(sandbox: Sandbox, lkapi: api.LiveKitAPI) -> None:
    await lkapi.sip.create_outbound_trunk(CREATE)
    sandbox.set_faults(latency_ms=700)
    pending = asyncio.ensure_future(lkapi.sip.list_outbound_trunk(LIST))
    await asyncio.sleep(0.2)
    assert await asyncio.to_thread(sandbox.stop) == 0
    assert len((await pending).items) == 1


async def test_crash_keeps_what_was_flushed(sandbox: Sandbox) -> None:
    lk = client(sandbox)
    try:
        created = await lk.sip.create_outbound_trunk(CREATE)
    finally:
        await lk.aclose()
    await asyncio.sleep(0.5)  # a few flush intervals
    sandbox.kill()  # SIGKILL: no shutdown flush
    sandbox.start()
    assert [t["sip_trunk_id"] for t in sandbox.state()["sip_outbound_trunks"]] == [
        created.sip_trunk_id
    ]
    assert sandbox.data_dir is not None
    leftovers = [p.name for p in sandbox.data_dir.rglob(".*.tmp")]
    assert leftovers == []
