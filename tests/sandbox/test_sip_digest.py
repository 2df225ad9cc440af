"""Digest authentication (RFC 2617, RFC 7616/8760 vectors)."""

from __future__ import annotations

import hashlib

import pytest

from sipctl.sandbox.sip.digest import (
    Challenge,
    DigestError,
    compute_response,
    parse_auth_params,
)


def test_rfc2617_section_3_5_example() -> None:
    ch = Challenge.parse(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    cred = compute_response(
        ch,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle Of Life",
        cnonce="0a4f113b",
    )
    assert cred.response == "6629fae49393a05397450978507c4ef1"
    value = cred.header_value()
    assert value.startswith("Digest ")
    params = parse_auth_params(value[len("Digest ") :])
    assert params == {
        "username": "Mufasa",
        "realm": "testrealm@host.com",
        "nonce": "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        "uri": "/dir/index.html",
        "response": "6629fae49393a05397450978507c4ef1",
        "algorithm": "MD5",
        "cnonce": "0a4f113b",
        "qop": "auth",
        "nc": "00000001",
        "opaque": "5ccc069c403ebaf9f0171e9517f40e41",
    }


def test_without_qop_is_rfc2069_style() -> None:
    ch = Challenge.parse('Digest realm="sipprov.test", nonce="abc"')
    cred = compute_response(ch, method="INVITE", uri="sip:+1@h", username="u", password="p")
    ha1 = hashlib.md5(b"u:sipprov.test:p").hexdigest()
    ha2 = hashlib.md5(b"INVITE:sip:+1@h").hexdigest()
    assert cred.response == hashlib.md5(f"{ha1}:abc:{ha2}".encode()).hexdigest()
    assert "qop" not in cred.header_value() and "cnonce" not in cred.header_value()


def test_rfc7616_sha256_example() -> None:
    ch = Challenge.parse(
        'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, '
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
        'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )
    cred = compute_response(
        ch,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle of Life",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    )
    assert cred.response == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    assert "algorithm=SHA-256" in cred.header_value()


def test_md5_sess() -> None:
    ch = Challenge.parse('Digest realm="r", nonce="n", algorithm=MD5-sess, qop="auth"')
    cred = compute_response(
        ch, method="INVITE", uri="sip:x@y", username="u", password="p", cnonce="c"
    )
    ha1 = hashlib.md5((hashlib.md5(b"u:r:p").hexdigest() + ":n:c").encode()).hexdigest()
    ha2 = hashlib.md5(b"INVITE:sip:x@y").hexdigest()
    assert cred.response == hashlib.md5(f"{ha1}:n:00000001:c:auth:{ha2}".encode()).hexdigest()


def test_kamailio_style_challenge_parses() -> None:
    ch = Challenge.parse(
        'Digest realm="sipprov.test", nonce="awbTNmsG0grrzqzzbxqMvHp3w4+JkSLu", '
        'qop="auth", stale=true'
    )
    assert ch.realm == "sipprov.test" and ch.qop == ["auth"] and ch.stale


@pytest.mark.parametrize(
    "value",
    [
        'Basic realm="x"',
        'Digest nonce="n"',
        'Digest realm="r", nonce="unterminated',
        "Digest =x",
    ],
)
def test_bad_challenges(value: str) -> None:
    with pytest.raises(DigestError):
        Challenge.parse(value)


def test_unanswerable_challenges() -> None:
    with pytest.raises(DigestError):
        compute_response(
            Challenge.parse('Digest realm="r", nonce="n", algorithm=SHA-1'),
            method="INVITE",
            uri="sip:a@b",
            username="u",
            password="p",
        )
    with pytest.raises(DigestError):
        compute_response(
            Challenge.parse('Digest realm="r", nonce="n", qop="auth-int"'),
            method="INVITE",
            uri="sip:a@b",
            username="u",
            password="p",
        )
