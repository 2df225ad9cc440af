"""Wire format of the sandbox's Twirp API: routing, codecs, auth failures, error bodies.

Expected answers are those of livekit-server (reference §1): bad routes and bad content
types are Twirp ``bad_route``/404, undecodable bodies ``malformed``/400 even without a
token, auth middleware failures are plain-text 401s, missing grants ``unauthenticated``.
"""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from livekit import api
from livekit.protocol import sip

from tests.fixtures.sandbox import Sandbox, make_token, post_raw

SIP = "/twirp/livekit.SIP"
LIST = f"{SIP}/ListSIPOutboundTrunk"

# (name, request kwargs for post_raw, token kind, status, content type, body)
CASES: list[tuple[str, dict[str, Any], str | None, int, str, Any]] = [
    (
        "get-not-allowed",
        {"path": LIST, "method": "GET", "body": b""},
        "admin",
        404,
        "application/json",
        {
            "code": "bad_route",
            "msg": 'unsupported method "GET" (only POST is allowed)',
            "meta": {"twirp_invalid_route": f"GET {LIST}"},
        },
    ),
    (
        "unknown-method",
        {"path": f"{SIP}/CreateSIPTrunk"},
        "admin",
        404,
        "application/json",
        {
            "code": "bad_route",
            "msg": f'no handler for path "{SIP}/CreateSIPTrunk"',
            "meta": {"twirp_invalid_route": f"POST {SIP}/CreateSIPTrunk"},
        },
    ),
    (
        "bad-content-type",
        {"path": LIST, "content_type": "text/plain"},
        "admin",
        404,
        "application/json",
        {
            "code": "bad_route",
            "msg": 'unexpected Content-Type: "text/plain"',
            "meta": {"twirp_invalid_route": f"POST {LIST}"},
        },
    ),
    (
        "malformed-json-before-grants",
        {"path": LIST, "body": b"{not json"},
        None,
        400,
        "application/json",
        {"code": "malformed", "msg": "the json request could not be decoded"},
    ),
    (
        "malformed-protobuf",
        {"path": LIST, "body": b"\xff\xff", "content_type": "application/protobuf"},
        "admin",
        400,
        "application/json",
        {"code": "malformed", "msg": "the protobuf request could not be decoded"},
    ),
    (
        "no-token",
        {"path": LIST},
        None,
        401,
        "application/json",
        {"code": "unauthenticated", "msg": "permissions denied"},
    ),
    (
        "video-grant-only",
        {"path": LIST},
        "video",
        401,
        "application/json",
        {"code": "unauthenticated", "msg": "permissions denied"},
    ),
    (
        "admin-does-not-imply-call",
        {"path": f"{SIP}/CreateSIPParticipant", "body": {"sip_trunk_id": "ST_x"}},
        "admin",
        401,
        "application/json",
        {"code": "unauthenticated", "msg": "permissions denied"},
    ),
    (
        "content-type-params-ignored",
        {"path": LIST, "content_type": "Application/JSON; charset=utf-8"},
        "admin",
        200,
        "application/json",
        {"items": []},
    ),
    (
        "unknown-service-is-plain-404",
        {"path": "/twirp/livekit.Nope/List"},
        "admin",
        404,
        "text/plain",
        "404 page not found\n",
    ),
    (
        "bad-authorization-header",
        {"path": LIST, "headers": {"Authorization": "Basic abc"}},
        None,
        401,
        "text/plain",
        "invalid authorization header. Must start with Bearer ",
    ),
    (
        "unparseable-token",
        {"path": LIST, "headers": {"Authorization": "Bearer abc.def"}},
        None,
        401,
        "text/plain",
        "invalid authorization token",
    ),
    (
        "unknown-key",
        {"path": LIST},
        "unknown-key",
        401,
        "text/plain",
        "invalid API key",
    ),
    (
        "expired",
        {"path": LIST},
        "expired",
        401,
        "text/plain",
        "invalid authorization token: token has invalid claims: token is expired",
    ),
    (
        "bad-signature",
        {"path": LIST},
        "bad-signature",
        401,
        "text/plain",
        "invalid authorization token: token signature is invalid: signature is invalid",
    ),
    ("health", {"path": "/", "method": "GET", "body": b""}, None, 200, "text/plain", "OK"),
]


def token_for(sb: Sandbox, kind: str | None) -> str | None:
    now = int(time.time())
    if kind is None:
        return None
    if kind == "admin":
        return make_token(sb, sip_admin=True)
    if kind == "video":
        return make_token(sb, room_admin=True, room_list=True, room_create=True)
    if kind == "unknown-key":
        return jwt.encode({"iss": "other", "exp": now + 60}, sb.api_secret, algorithm="HS256")
    if kind == "expired":
        claims = {"iss": sb.api_key, "exp": now - 120, "sip": {"admin": True}}
        return jwt.encode(claims, sb.api_secret, algorithm="HS256")
    if kind == "bad-signature":
        other = "another-secret-0123456789abcdef0123456789"
        return jwt.encode({"iss": sb.api_key, "exp": now + 60}, other, algorithm="HS256")
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("request_kw", "token", "status", "ctype", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_wire_table(
    sandbox: Sandbox,
    request_kw: dict[str, Any],
    token: str | None,
    status: int,
    ctype: str,
    expected: Any,
) -> None:
    kw = dict(request_kw)
    path = kw.pop("path")
    got_status, got_ctype, body = await post_raw(
        sandbox, path, token=token_for(sandbox, token), **kw
    )
    assert got_status == status
    assert got_ctype.startswith(ctype)
    if isinstance(expected, str):
        assert body.decode() == expected
    else:
        assert json.loads(body) == expected


async def test_json_responses_are_protojson(sandbox: Sandbox) -> None:
    tok = make_token(sandbox, sip_admin=True)
    # lowerCamel names, enum numbers and unknown fields are accepted.
    body = {
        "trunk": {
            "name": "n",
            "address": "h.example.com",
            "numbers": ["+1"],
            "transport": 2,
            "authPassword": "pw",
            "someFutureField": True,
        }
    }
    status, ctype, data = await post_raw(sandbox, f"{SIP}/CreateSIPOutboundTrunk", body, token=tok)
    assert (status, ctype) == (200, "application/json")
    out = json.loads(data)
    assert out["transport"] == "SIP_TRANSPORT_TCP" and out["auth_password"] == "pw"
    # Every field is there, zero values included; unset messages are null.
    assert (
        out["metadata"] == ""
        and out["headers"] == {}
        and out["include_headers"] == "SIP_NO_HEADERS"
    )
    assert out["media"] is None and out["created_at"] is None
    assert set(out) == {f.name for f in sip.SIPOutboundTrunkInfo.DESCRIPTOR.fields}


async def test_protobuf_answers_protobuf(sandbox: Sandbox) -> None:
    tok = make_token(sandbox, sip_admin=True)
    req = sip.ListSIPOutboundTrunkRequest().SerializeToString()
    status, ctype, data = await post_raw(
        sandbox, LIST, req, content_type="application/protobuf", token=tok
    )
    assert (status, ctype) == (200, "application/protobuf")
    assert sip.ListSIPOutboundTrunkResponse.FromString(data) == sip.ListSIPOutboundTrunkResponse()


async def test_access_token_query_parameter(sandbox: Sandbox) -> None:
    tok = make_token(sandbox, sip_admin=True)
    status, _, _ = await post_raw(sandbox, f"{LIST}?access_token={tok}")
    assert status == 200


async def test_official_client_sees_plain_401_as_unknown(sandbox: Sandbox) -> None:
    lk = api.LiveKitAPI(sandbox.url, sandbox.api_key, "wrong-secret-0123456789abcdef0123456")
    try:
        with pytest.raises(api.TwirpError) as err:
            await lk.sip.list_outbound_trunk(sip.ListSIPOutboundTrunkRequest())
    finally:
        await lk.aclose()
    assert (err.value.code, err.value.status) == ("unknown", 401)


async def test_request_log_lines(sandbox: Sandbox) -> None:
    tok = make_token(sandbox, sip_admin=True)
    await post_raw(sandbox, LIST, token=tok)
    await post_raw(sandbox, f"{SIP}/GetSIPOutboundTrunk", {"sip_trunk_id": "ST_x"}, token=tok)
    log = sandbox.log_text()
    assert "twirp ListSIPOutboundTrunk 200" in log
    assert "twirp GetSIPOutboundTrunk 404 not_found" in log
    assert "Traceback" not in log
