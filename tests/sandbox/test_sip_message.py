"""SIP message parsing and serialisation against RFC 3261 examples."""

from __future__ import annotations

import pytest

from sipctl.sandbox.sip.message import (
    Address,
    CSeq,
    Headers,
    Request,
    Response,
    SipParseError,
    SipURI,
    StreamParser,
    Via,
    canonical_name,
    parse_message,
    split_commas,
)

# RFC 3261 §24.2, F1 (Alice's INVITE through atlanta.com)
INVITE = (
    b"INVITE sip:bob@biloxi.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: Bob <sip:bob@biloxi.com>\r\n"
    b"From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.com>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 5\r\n"
    b"\r\n"
    b"v=0\r\n"
)

# RFC 3261 §24.2, F6 (Bob's 200 OK as it reaches Alice, Record-Route through 2 proxies)
OK = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP server10.biloxi.com;branch=z9hG4bK4b43c2ff8.1;received=192.0.2.3,\r\n"
    b" SIP/2.0/UDP bigbox3.site3.atlanta.com;branch=z9hG4bK77ef4c2312983.1\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8;received=192.0.2.1\r\n"
    b"Record-Route: <sip:server10.biloxi.com;lr>, <sip:bigbox3.site3.atlanta.com;lr>\r\n"
    b"To: Bob <sip:bob@biloxi.com>;tag=a6c85cf\r\n"
    b"From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:bob@192.0.2.4>\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def test_parse_rfc3261_invite() -> None:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    assert msg.method == "INVITE"
    assert str(msg.uri) == "sip:bob@biloxi.com"
    assert msg.cseq == CSeq(314159, "INVITE")
    assert msg.call_id == "a84b4c76e66710"
    assert msg.from_.tag == "1928301774"
    assert msg.from_.display_name == "Alice"
    assert msg.to.tag is None
    assert msg.top_via.branch == "z9hG4bKnashds8"
    assert msg.contact is not None and msg.contact.uri.host == "pc33.atlanta.com"
    assert msg.body == b"v=0\r\n"


def test_parse_response_folded_multi_via_and_record_route() -> None:
    msg = parse_message(OK)
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason) == (200, "OK")
    vias = msg.vias
    assert [v.host for v in vias] == [
        "server10.biloxi.com",
        "bigbox3.site3.atlanta.com",
        "pc33.atlanta.com",
    ]
    assert vias[0].params["received"] == "192.0.2.3"
    rr = msg.headers.get_all("Record-Route")
    assert rr == ["<sip:server10.biloxi.com;lr>", "<sip:bigbox3.site3.atlanta.com;lr>"]
    assert msg.to.tag == "a6c85cf"


def test_compact_forms_expand() -> None:
    raw = (
        b"BYE sip:alice@pc33.atlanta.com SIP/2.0\r\n"
        b"v: SIP/2.0/TCP 192.0.2.4;branch=z9hG4bKnashds10\r\n"
        b"f: Bob <sip:bob@biloxi.com>;tag=a6c85cf\r\n"
        b"t: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"
        b"i: a84b4c76e66710\r\n"
        b"CSeq: 231 BYE\r\n"
        b"m: <sip:bob@192.0.2.4>\r\n"
        b"l: 0\r\n\r\n"
    )
    msg = parse_message(raw)
    assert msg.headers.get("Call-ID") == "a84b4c76e66710"
    assert msg.headers.get("via") is not None
    assert msg.top_via.transport == "TCP"
    assert msg.from_.tag == "a6c85cf"
    assert b"Call-ID: a84b4c76e66710\r\n" in msg.serialize()
    assert canonical_name("cseq") == "CSeq"
    assert canonical_name("www-authenticate") == "WWW-Authenticate"
    assert canonical_name("x-provider-scenario") == "X-Provider-Scenario"


def test_serialise_round_trip_and_content_length() -> None:
    msg = parse_message(INVITE)
    msg.body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"
    again = parse_message(msg.serialize())
    assert again.body == msg.body
    assert again.headers.get("Content-Length") == str(len(msg.body))
    assert [n for n, _ in again.headers].count("Content-Length") == 1


@pytest.mark.parametrize(
    ("text", "display", "user", "host", "port", "params", "tag"),
    [
        (
            '"Bob B." <sip:bob@biloxi.com:5070;transport=tcp>;tag=x1',
            "Bob B.",
            "bob",
            "biloxi.com",
            5070,
            {"transport": "tcp"},
            "x1",
        ),
        ("sip:+15550100001@127.0.0.1;tag=abc", None, "+15550100001", "127.0.0.1", None, {}, "abc"),
        ("<sip:127.0.0.1:5060;lr>", None, None, "127.0.0.1", 5060, {"lr": None}, None),
        (
            '"a \\"quoted\\" name" <sips:x@[2001:db8::1]:5061>',
            'a "quoted" name',
            "x",
            "2001:db8::1",
            5061,
            {},
            None,
        ),
    ],
)
def test_address_forms(
    text: str,
    display: str | None,
    user: str | None,
    host: str,
    port: int | None,
    params: dict[str, str | None],
    tag: str | None,
) -> None:
    a = Address.parse(text)
    assert a.display_name == display
    assert a.uri.user == user
    assert a.uri.host == host
    assert a.uri.port == port
    assert a.uri.params == params
    assert a.tag == tag
    assert Address.parse(str(a)) == a


def test_uri_and_via_serialise() -> None:
    uri = SipURI.parse("sip:+1555@10.0.0.1:5080;transport=TCP;lr")
    assert uri.transport == "tcp"
    assert str(uri) == "sip:+1555@10.0.0.1:5080;transport=TCP;lr"
    via = Via.parse("SIP/2.0/udp 127.0.0.1:5060;branch=z9hG4bKx;rport=5060;received=127.0.0.1")
    assert via.transport == "UDP" and via.port == 5060 and via.branch == "z9hG4bKx"
    assert Via.parse(str(via)) == via


def test_split_commas_respects_quotes_and_brackets() -> None:
    value = '"Doe, John" <sip:j@x;a=1,2>, <sip:k@y>'
    assert split_commas(value) == ['"Doe, John" <sip:j@x;a=1,2>', "<sip:k@y>"]


def test_headers_helpers() -> None:
    h = Headers([("via", "a"), ("Route", "<sip:a;lr>, <sip:b;lr>"), ("X-A", "1")])
    h.set("x-a", "2")
    h.prepend("Via", "b")
    assert h.get_all("Via") == ["b", "a"]
    assert h.get_all("Route") == ["<sip:a;lr>", "<sip:b;lr>"]
    assert h.get("X-A") == "2"
    h.remove("route")
    assert "Route" not in h
    assert len(h.copy()) == 3


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"garbage\r\n\r\n",
        b"SIP/2.0 999 Nope\r\n\r\n",
        # no Call-ID
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCSeq: 1 INVITE\r\n\r\n",
        b"SIP/2.0 200 OK\r\nCall-ID: x\r\nCSeq: one INVITE\r\nVia: SIP/2.0/UDP h\r\n\r\n",
        b"SIP/2.0 200 OK\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nVia: HTTP/1.1 h\r\n\r\n",
        b"SIP/2.0 200 OK\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nVia: SIP/2.0/UDP h\r\n"
        b"Content-Length: 10\r\n\r\nshort",
        b"SIP/2.0 200 OK\r\nbad header line\r\n\r\n",
        b"INVITE notauri SIP/2.0\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nVia: SIP/2.0/UDP h\r\n\r\n",
        b"\xff\xfe\r\n\r\n",
    ],
)
def test_garbage_is_a_parse_error_never_a_crash(raw: bytes) -> None:
    with pytest.raises(SipParseError):
        parse_message(raw)


def test_bad_addresses_raise_parse_error() -> None:
    for text in ("", "<sip:x@y", '"unterminated <sip:x@y>', "mailto:x@y", "sip:x@y:99999"):
        with pytest.raises(SipParseError):
            Address.parse(text)


def test_stream_parser_frames_by_content_length() -> None:
    sp = StreamParser()
    data = b"\r\n\r\n" + INVITE + OK
    out = []
    for i in range(0, len(data), 7):  # arbitrary TCP segmentation
        out += sp.feed(data[i : i + 7])
    assert [type(m).__name__ for m in out] == ["Request", "Response"]
    assert isinstance(out[0], Request) and out[0].body == b"v=0\r\n"


def test_stream_parser_reports_missing_length() -> None:
    sp = StreamParser()
    out = sp.feed(b"SIP/2.0 100 Trying\r\nCall-ID: x\r\n\r\n")
    assert len(out) == 1 and isinstance(out[0], SipParseError)
