"""Dialog state from a 2xx and in-dialog requests (RFC 3261 §12, example §24.2)."""

from __future__ import annotations

import pytest

from sipctl.sandbox.sip.dialog import Dialog, DialogError
from sipctl.sandbox.sip.message import Request, Response, Via, parse_message

INVITE = (
    b"INVITE sip:bob@biloxi.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8\r\n"
    b"To: Bob <sip:bob@biloxi.com>\r\n"
    b"From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.com>\r\n"
    b"Content-Length: 0\r\n\r\n"
)
OK = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8;received=192.0.2.1\r\n"
    b"Record-Route: <sip:server10.biloxi.com;lr>\r\n"
    b"Record-Route: <sip:bigbox3.site3.atlanta.com;lr>\r\n"
    b"To: Bob <sip:bob@biloxi.com>;tag=a6c85cf\r\n"
    b"From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:bob@192.0.2.4>\r\n"
    b"Content-Length: 0\r\n\r\n"
)
VIA = Via("UDP", "pc33.atlanta.com", None, {"branch": "z9hG4bKnew"})


def dialog(ok: bytes = OK) -> Dialog:
    inv = parse_message(INVITE)
    resp = parse_message(ok)
    assert isinstance(inv, Request) and isinstance(resp, Response)
    return Dialog.from_2xx(inv, resp)


def test_route_set_is_reversed_record_route_and_target_is_contact() -> None:
    d = dialog()
    assert [str(r.uri) for r in d.route_set] == [
        "sip:bigbox3.site3.atlanta.com;lr",
        "sip:server10.biloxi.com;lr",
    ]
    assert str(d.remote_target) == "sip:bob@192.0.2.4"
    assert (d.local_tag, d.remote_tag) == ("1928301774", "a6c85cf")
    assert str(d.next_hop()) == "sip:bigbox3.site3.atlanta.com;lr"


def test_ack_keeps_invite_cseq_and_bye_increments() -> None:
    d = dialog()
    ack = d.ack(VIA)
    assert ack.method == "ACK" and str(ack.uri) == "sip:bob@192.0.2.4"
    assert ack.cseq.number == 314159 and ack.cseq.method == "ACK"
    assert ack.headers.get_all("Route") == [
        "<sip:bigbox3.site3.atlanta.com;lr>",
        "<sip:server10.biloxi.com;lr>",
    ]
    assert ack.to.tag == "a6c85cf" and ack.from_.tag == "1928301774"
    bye = d.request("BYE", VIA)
    assert bye.cseq.number == 314160 and bye.cseq.method == "BYE"
    assert d.request("INFO", VIA).cseq.number == 314161
    assert d.ack(VIA).cseq.number == 314159


def test_strict_router_becomes_request_uri() -> None:
    d = dialog(
        OK.replace(b"<sip:bigbox3.site3.atlanta.com;lr>", b"<sip:bigbox3.site3.atlanta.com>")
    )
    bye = d.request("BYE", VIA)
    assert str(bye.uri) == "sip:bigbox3.site3.atlanta.com"
    assert bye.headers.get_all("Route") == ["<sip:server10.biloxi.com;lr>", "<sip:bob@192.0.2.4>"]


def test_no_record_route_means_direct_to_contact() -> None:
    d = dialog(
        OK.replace(b"Record-Route: <sip:server10.biloxi.com;lr>\r\n", b"").replace(
            b"Record-Route: <sip:bigbox3.site3.atlanta.com;lr>\r\n", b""
        )
    )
    assert d.route_set == [] and str(d.next_hop()) == "sip:bob@192.0.2.4"
    assert d.request("BYE", VIA).headers.get("Route") is None


def test_matches_requests_from_the_far_end_only() -> None:
    d = dialog()
    bye = parse_message(
        b"BYE sip:alice@pc33.atlanta.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKnashds10\r\n"
        b"From: Bob <sip:bob@biloxi.com>;tag=a6c85cf\r\n"
        b"To: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"
        b"Call-ID: a84b4c76e66710\r\nCSeq: 231 BYE\r\nContent-Length: 0\r\n\r\n"
    )
    assert isinstance(bye, Request)
    assert d.matches(bye)
    bye.headers.set("From", "Bob <sip:bob@biloxi.com>;tag=other")
    assert not d.matches(bye)


def test_2xx_without_to_tag_or_contact_is_refused() -> None:
    with pytest.raises(DialogError, match="no tag in To header"):
        dialog(OK.replace(b";tag=a6c85cf", b""))
    with pytest.raises(DialogError, match="no Contact"):
        dialog(OK.replace(b"Contact: <sip:bob@192.0.2.4>\r\n", b""))
