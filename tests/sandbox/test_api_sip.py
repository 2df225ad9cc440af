"""The SIP trunk and dispatch-rule API of the sandbox, through the official livekit-api."""

from __future__ import annotations

from typing import Any

import pytest
from livekit import api
from livekit.protocol import models, sip

from tests.fixtures.sandbox import Sandbox, make_token, twirp_json


def trunk(**kw: Any) -> sip.SIPOutboundTrunkInfo:
    base: dict[str, Any] = {
        "name": "carrier",
        "address": "sip.example.com",
        "numbers": ["+15550100"],
        "auth_username": "user",
        "auth_password": "secret-pw",
    }
    base.update(kw)
    return sip.SIPOutboundTrunkInfo(**base)


async def create(lk: api.LiveKitAPI, **kw: Any) -> sip.SIPOutboundTrunkInfo:
    return await lk.sip.create_outbound_trunk(sip.CreateSIPOutboundTrunkRequest(trunk=trunk(**kw)))


async def error_of(coro: Any) -> api.TwirpError:
    with pytest.raises(api.TwirpError) as err:
        await coro
    return err.value


# --- outbound trunks -------------------------------------------------------------------


async def test_outbound_crud(lkapi: api.LiveKitAPI, sandbox: Sandbox) -> None:
    created = await create(lkapi, headers={"X-Env": "test"}, transport=sip.SIP_TRANSPORT_TCP)
    assert created.sip_trunk_id.startswith("ST_") and len(created.sip_trunk_id) == 15
    assert created.auth_password == "secret-pw"  # OSS answers secrets in clear
    assert not created.HasField("media") and not created.HasField("created_at")
    listed = await lkapi.sip.list_outbound_trunk(sip.ListSIPOutboundTrunkRequest())
    assert list(listed.items) == [created]
    stored = sandbox.state()["sip_outbound_trunks"]
    assert [t["sip_trunk_id"] for t in stored] == [created.sip_trunk_id]
    assert stored[0]["transport"] == "SIP_TRANSPORT_TCP"
    deleted = await lkapi.sip.delete_trunk(
        sip.DeleteSIPTrunkRequest(sip_trunk_id=created.sip_trunk_id)
    )
    assert deleted == sip.SIPTrunkInfo(sip_trunk_id=created.sip_trunk_id)
    assert sandbox.state()["sip_outbound_trunks"] == []


async def test_delete_trunk_is_idempotent(lkapi: api.LiveKitAPI) -> None:
    gone = await lkapi.sip.delete_trunk(sip.DeleteSIPTrunkRequest(sip_trunk_id="ST_neverexisted"))
    assert gone.sip_trunk_id == "ST_neverexisted"
    err = await error_of(lkapi.sip.delete_trunk(sip.DeleteSIPTrunkRequest()))
    assert (err.code, err.message, err.status) == ("invalid_argument", "trunk ID is required", 400)


async def test_duplicates_are_accepted_for_outbound(lkapi: api.LiveKitAPI) -> None:
    a = await create(lkapi)
    b = await create(lkapi)
    assert a.sip_trunk_id != b.sip_trunk_id
    items = (await lkapi.sip.list_outbound_trunk(sip.ListSIPOutboundTrunkRequest())).items
    assert [t.sip_trunk_id for t in items] == sorted([a.sip_trunk_id, b.sip_trunk_id])


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"numbers": []}, "no trunk numbers specified"),
        ({"address": ""}, "no outbound address specified"),
        (
            {"address": "sip:carrier.example.com"},
            "trunk address should be a hostname or IP, not SIP URI",
        ),
        (
            {"address": "carrier;transport=tls"},
            "trunk address should not contain transport parameter",
        ),
        ({"sip_trunk_id": "ST_mine"}, "trunk id must not be set"),
        ({"headers": {"Call-ID": "x"}}, "invalid header name: header name Call-ID not supported"),
    ],
)
async def test_outbound_create_validation(
    lkapi: api.LiveKitAPI, kw: dict[str, Any], message: str
) -> None:
    err = await error_of(create(lkapi, **kw))
    assert (err.code, err.message, err.status) == ("invalid_argument", message, 400)


async def test_replace_wipes_omitted_fields(lkapi: api.LiveKitAPI) -> None:
    t = await create(lkapi, headers={"X-A": "1"}, metadata="m")
    replaced = await lkapi.sip.update_outbound_trunk(
        t.sip_trunk_id, sip.SIPOutboundTrunkInfo(address="other.example.com", numbers=["+1"])
    )
    assert replaced == sip.SIPOutboundTrunkInfo(
        sip_trunk_id=t.sip_trunk_id, address="other.example.com", numbers=["+1"]
    )
    err = await error_of(
        lkapi.sip.update_outbound_trunk(
            t.sip_trunk_id,
            sip.SIPOutboundTrunkInfo(sip_trunk_id="ST_other", address="a", numbers=["1"]),
        )
    )
    assert err.message == "trunk id in the info must be empty or match the id in the update"


async def test_update_semantics_and_quirks(lkapi: api.LiveKitAPI) -> None:
    t = await create(lkapi, numbers=["+1", "+2"], headers={"X-A": "1"})
    upd = await lkapi.sip.update_outbound_trunk_fields(
        t.sip_trunk_id, name="renamed", numbers=models.ListUpdate(add=["+3"], remove=["+1"])
    )
    assert list(upd.numbers) == ["+2", "+3"] and upd.name == "renamed"
    assert dict(upd.headers) == {"X-A": "1"} and upd.auth_password == "secret-pw"
    assert upd.HasField("media"), "Upgrade() makes media present after an update"
    # Post-apply validation errors are plain errors: unknown / 500.
    err = await error_of(
        lkapi.sip.update_outbound_trunk_fields(
            t.sip_trunk_id, numbers=models.ListUpdate(remove=["+2", "+3"])
        )
    )
    assert (err.code, err.message, err.status) == ("unknown", "no trunk numbers specified", 500)
    # Request-level ListUpdate errors are invalid_argument, checked before the ID lookup.
    err = await error_of(lkapi.sip.update_outbound_trunk_fields("ST_unknown", numbers=[]))
    assert (err.code, err.message) == ("invalid_argument", "unsupported list update operation")
    err = await error_of(lkapi.sip.update_outbound_trunk_fields("ST_unknown", name="x"))
    assert (err.code, err.message, err.status) == (
        "not_found",
        "requested sip trunk does not exist",
        404,
    )


async def test_update_request_errors(lkapi: api.LiveKitAPI, sandbox: Sandbox) -> None:
    tok = make_token(sandbox, sip_admin=True)
    status, body = await twirp_json(sandbox, "SIP", "UpdateSIPOutboundTrunk", {}, tok)
    assert (status, body) == (400, {"code": "invalid_argument", "msg": "trunk id must be set"})
    status, body = await twirp_json(
        sandbox, "SIP", "UpdateSIPOutboundTrunk", {"sip_trunk_id": "ST_x"}, tok
    )
    assert body["msg"] == "missing or unsupported update action"


async def test_get_outbound_trunk(lkapi: api.LiveKitAPI, sandbox: Sandbox) -> None:
    t = await create(lkapi)
    tok = make_token(sandbox, sip_admin=True)
    status, body = await twirp_json(
        sandbox, "SIP", "GetSIPOutboundTrunk", {"sipTrunkId": t.sip_trunk_id}, tok
    )
    assert status == 200 and body["trunk"]["sip_trunk_id"] == t.sip_trunk_id
    assert body["trunk"]["transport"] == "SIP_TRANSPORT_AUTO" and body["trunk"]["media"] is None
    status, body = await twirp_json(
        sandbox, "SIP", "GetSIPOutboundTrunk", {"sip_trunk_id": "ST_no"}, tok
    )
    assert (status, body) == (
        404,
        {"code": "not_found", "msg": "requested sip trunk does not exist"},
    )
    status, body = await twirp_json(sandbox, "SIP", "GetSIPOutboundTrunk", {}, tok)
    assert (status, body["msg"]) == (400, "trunk ID is required")


async def test_list_filters_and_pagination(lkapi: api.LiveKitAPI) -> None:
    a = await create(lkapi, numbers=["+1"])
    b = await create(lkapi, numbers=["+2"])
    c = await create(lkapi, numbers=["+3", "+1"])
    ids = sorted(t.sip_trunk_id for t in (a, b, c))

    async def listed(**kw: Any) -> list[str]:
        resp = await lkapi.sip.list_outbound_trunk(sip.ListSIPOutboundTrunkRequest(**kw))
        return [t.sip_trunk_id for t in resp.items]

    assert await listed() == ids
    assert await listed(trunk_ids=[b.sip_trunk_id, "ST_missing", a.sip_trunk_id]) == sorted(
        [a.sip_trunk_id, b.sip_trunk_id]
    )
    assert await listed(numbers=["+1"]) == sorted([a.sip_trunk_id, c.sip_trunk_id])
    assert await listed(numbers=["1"]) == [], "outbound number filter is exact"
    # OSS pagination: everything after after_id, whatever the limit.
    assert await listed(page=models.Pagination(after_id=ids[0], limit=1)) == ids[1:]
    assert await listed(page=models.Pagination(limit=1)) == ids


# --- inbound trunks --------------------------------------------------------------------


async def test_inbound_trunks(lkapi: api.LiveKitAPI) -> None:
    req = sip.CreateSIPInboundTrunkRequest
    a = await lkapi.sip.create_inbound_trunk(
        req(trunk=sip.SIPInboundTrunkInfo(name="a", numbers=["+1 555 0100"]))
    )
    assert a.sip_trunk_id.startswith("ST_")
    err = await error_of(
        lkapi.sip.create_inbound_trunk(req(trunk=sip.SIPInboundTrunkInfo(numbers=["15550100"])))
    )
    assert err.code == "invalid_argument"
    assert err.message == (
        f'Conflicting inbound SIP Trunks: "<new>" and "{a.sip_trunk_id}", using the same '
        'number(s) ["15550100"] without AllowedNumbers set'
    )
    err = await error_of(
        lkapi.sip.create_inbound_trunk(req(trunk=sip.SIPInboundTrunkInfo(name="open")))
    )
    assert err.message.startswith("for security, one of the fields must be set")
    b = await lkapi.sip.create_inbound_trunk(
        req(trunk=sip.SIPInboundTrunkInfo(numbers=["+15550100"], allowed_numbers=["+1999"]))
    )
    found = await lkapi.sip.list_inbound_trunk(
        sip.ListSIPInboundTrunkRequest(numbers=["+1-555-0100"])
    )
    assert [t.sip_trunk_id for t in found.items] == sorted([a.sip_trunk_id, b.sip_trunk_id])
    upd = await lkapi.sip.update_inbound_trunk_fields(a.sip_trunk_id, name="renamed")
    assert upd.name == "renamed" and list(upd.numbers) == ["+1 555 0100"]
    # The outbound Get of an inbound ID is not found; DeleteSIPTrunk removes either kind.
    await lkapi.sip.delete_trunk(sip.DeleteSIPTrunkRequest(sip_trunk_id=a.sip_trunk_id))
    left = await lkapi.sip.list_inbound_trunk(sip.ListSIPInboundTrunkRequest())
    assert [t.sip_trunk_id for t in left.items] == [b.sip_trunk_id]


# --- dispatch rules --------------------------------------------------------------------


def direct(room: str, pin: str = "") -> sip.SIPDispatchRule:
    return sip.SIPDispatchRule(
        dispatch_rule_direct=sip.SIPDispatchRuleDirect(room_name=room, pin=pin)
    )


async def test_dispatch_rules(lkapi: api.LiveKitAPI) -> None:
    create_rule = lkapi.sip.create_dispatch_rule
    req = sip.CreateSIPDispatchRuleRequest
    r1 = await create_rule(
        req(dispatch_rule=sip.SIPDispatchRuleInfo(name="main", rule=direct("lobby")))
    )
    assert r1.sip_dispatch_rule_id.startswith("SDR_") and len(r1.sip_dispatch_rule_id) == 16
    err = await error_of(
        create_rule(req(dispatch_rule=sip.SIPDispatchRuleInfo(rule=direct("other"))))
    )
    assert (err.code, err.message) == (
        "invalid_argument",
        "Dispatch rule for the same trunk, inbound number, number, and PIN combination "
        f'already exists in dispatch rule "{r1.sip_dispatch_rule_id}" "main"',
    )
    err = await error_of(create_rule(req(dispatch_rule=sip.SIPDispatchRuleInfo(name="x"))))
    assert (err.code, err.message) == ("invalid_argument", "missing rule")
    r2 = await create_rule(
        req(rule=direct("pinned", pin="1234"), trunk_ids=["ST_a"])
    )  # legacy form
    assert list(r2.trunk_ids) == ["ST_a"]
    listed = await lkapi.sip.list_dispatch_rule(sip.ListSIPDispatchRuleRequest(trunk_ids=["ST_b"]))
    assert [r.sip_dispatch_rule_id for r in listed.items] == [r1.sip_dispatch_rule_id]
    upd = await lkapi.sip.update_dispatch_rule_fields(
        r2.sip_dispatch_rule_id, trunk_ids=["ST_c"], attributes={"k": "v"}
    )
    assert list(upd.trunk_ids) == ["ST_c"] and dict(upd.attributes) == {"k": "v"}
    await lkapi.sip.delete_dispatch_rule(
        sip.DeleteSIPDispatchRuleRequest(sip_dispatch_rule_id=r2.sip_dispatch_rule_id)
    )
    err = await error_of(
        lkapi.sip.delete_dispatch_rule(
            sip.DeleteSIPDispatchRuleRequest(sip_dispatch_rule_id=r2.sip_dispatch_rule_id)
        )
    )
    assert (err.code, err.message, err.status) == (
        "not_found",
        "requested sip dispatch rule does not exist",
        404,
    )


# --- CreateSIPParticipant checks before dialing ------------------------------------------


async def test_create_sip_participant_checks(lkapi: api.LiveKitAPI) -> None:
    t = await create(lkapi)
    call = lkapi.sip.create_sip_participant
    req = sip.CreateSIPParticipantRequest
    err = await error_of(call(req(sip_trunk_id=t.sip_trunk_id, room_name="r")))
    assert (err.code, err.message) == ("invalid_argument", "missing sip callee number")
    err = await error_of(call(req(sip_trunk_id="ST_nope", sip_call_to="+1", room_name="r")))
    assert (err.code, err.message, err.status) == (
        "not_found",
        "requested sip trunk does not exist",
        404,
    )
    err = await error_of(call(req(sip_trunk_id=t.sip_trunk_id, sip_call_to="+1")))
    assert err.message == "missing room name"
    err = await error_of(call(req(sip_call_to="+1", room_name="r")))
    assert err.message == "missing sip trunk id and sip number"
    # An inline trunk has no numbers: psrpc-style failed_precondition with the prefix.
    inline = sip.SIPOutboundConfig(hostname="carrier.example.com")
    err = await error_of(call(req(trunk=inline, sip_call_to="+1", room_name="r")))
    assert (err.code, err.message, err.status) == (
        "failed_precondition",
        "twirp error unknown: no numbers on outbound trunk",
        412,
    )


async def test_update_conflicts(lkapi: api.LiveKitAPI) -> None:
    inbound = sip.CreateSIPInboundTrunkRequest
    a = await lkapi.sip.create_inbound_trunk(inbound(trunk=sip.SIPInboundTrunkInfo(numbers=["+1"])))
    b = await lkapi.sip.create_inbound_trunk(inbound(trunk=sip.SIPInboundTrunkInfo(numbers=["+2"])))
    # Adding a number another trunk owns is a conflict (the updated trunk is named by its ID).
    err = await error_of(
        lkapi.sip.update_inbound_trunk_fields(b.sip_trunk_id, numbers=models.ListUpdate(add=["+1"]))
    )
    first, second = sorted([a.sip_trunk_id, b.sip_trunk_id])
    assert err.code == "invalid_argument"
    assert err.message.startswith(f'Conflicting inbound SIP Trunks: "{second}" and "{first}"')
    # Post-apply validation of an inbound update is a plain error too.
    err = await error_of(
        lkapi.sip.update_inbound_trunk_fields(
            a.sip_trunk_id, numbers=models.ListUpdate(remove=["+1"])
        )
    )
    assert (err.code, err.status) == ("unknown", 500)
    assert err.message.startswith("for security, one of the fields must be set")

    rule = sip.CreateSIPDispatchRuleRequest
    r1 = await lkapi.sip.create_dispatch_rule(
        rule(
            dispatch_rule=sip.SIPDispatchRuleInfo(rule=direct("a"), trunk_ids=["ST_1"], name="one")
        )
    )
    r2 = await lkapi.sip.create_dispatch_rule(
        rule(dispatch_rule=sip.SIPDispatchRuleInfo(rule=direct("b"), trunk_ids=["ST_2"]))
    )
    err = await error_of(
        lkapi.sip.update_dispatch_rule_fields(r2.sip_dispatch_rule_id, trunk_ids=["ST_2", "ST_1"])
    )
    # Rules are checked in ID order; the message names the earlier one of the pair.
    earlier = min((r1, r2), key=lambda r: r.sip_dispatch_rule_id)
    assert err.code == "invalid_argument" and err.message.endswith(
        f'in dispatch rule "{earlier.sip_dispatch_rule_id}" "{earlier.name or "<blank name>"}"'
    )


async def test_list_sip_trunk_legacy(lkapi: api.LiveKitAPI, sandbox: Sandbox) -> None:
    out = await create(lkapi, numbers=["+1", "+2"])
    inb = await lkapi.sip.create_inbound_trunk(
        sip.CreateSIPInboundTrunkRequest(trunk=sip.SIPInboundTrunkInfo(numbers=["+3"]))
    )
    tok = make_token(sandbox, sip_admin=True)
    status, body = await twirp_json(sandbox, "SIP", "ListSIPTrunk", {}, tok)
    assert status == 200
    by_id = {t["sip_trunk_id"]: t for t in body["items"]}
    assert [t["sip_trunk_id"] for t in body["items"]] == sorted(by_id)
    assert by_id[out.sip_trunk_id]["kind"] == "TRUNK_OUTBOUND"
    assert by_id[out.sip_trunk_id]["outbound_number"] == "+1"
    assert by_id[out.sip_trunk_id]["outbound_password"] == "secret-pw"
    assert by_id[inb.sip_trunk_id]["kind"] == "TRUNK_INBOUND"


async def test_nested_nulls_in_json_lists(lkapi: api.LiveKitAPI, sandbox: Sandbox) -> None:
    await lkapi.sip.create_inbound_trunk(
        sip.CreateSIPInboundTrunkRequest(trunk=sip.SIPInboundTrunkInfo(numbers=["+1"]))
    )
    tok = make_token(sandbox, sip_admin=True)
    _, body = await twirp_json(sandbox, "SIP", "ListSIPInboundTrunk", {}, tok)
    item = body["items"][0]
    assert item["ringing_timeout"] is None and item["media"] is None
    assert item["krisp_enabled"] is False and item["allowed_numbers"] == []


async def test_transfer_checks(sandbox: Sandbox) -> None:
    tok = make_token(sandbox, sip_call=True)
    status, body = await twirp_json(sandbox, "SIP", "TransferSIPParticipant", {}, tok)
    assert (status, body) == (
        400,
        {"code": "invalid_argument", "msg": "twirp error unknown: Missing room name"},
    )
    body_ok = {"room_name": "r", "participant_identity": "p", "transfer_to": "tel:+1"}
    status, body = await twirp_json(sandbox, "SIP", "TransferSIPParticipant", body_ok, tok)
    assert (status, body["code"]) == (401, "unauthenticated"), "needs roomAdmin for the room"
