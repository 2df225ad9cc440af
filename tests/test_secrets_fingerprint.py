"""The password fingerprint the ownership marker records: salted scrypt, compact, no API
key in it, and older sipctl's HMAC markers still read."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from sipctl import secrets
from sipctl.livekit.adapter import marker_for
from sipctl.ownership import parse_metadata, render_metadata
from sipctl.plan import make_plan
from sipctl.secrets import (
    fingerprint,
    legacy_fingerprint,
    matches,
    prefetch,
    salt_for,
    salt_of,
)
from tests.reconcile_helpers import API_SECRET, config, live, out_model, outbound_pb

PASSWORD = "s3cr3t-Pa55w0rd-zq"
SALT = b"123456789"


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_format_is_scheme_salt_and_scrypt_hash() -> None:
    fp = fingerprint(PASSWORD, SALT)
    scheme, salt, digest = fp.split(".")
    assert scheme == "s1" and _unb64(salt) == SALT
    # scrypt with the documented cost, recomputed independently of the module
    want = hashlib.scrypt(PASSWORD.encode(), salt=SALT, n=2**11, r=8, p=1, dklen=9, maxmem=2**23)
    assert _unb64(digest) == want
    assert len(fp) == 28  # small: LiveKit's metadata is a string users see in listings


def test_same_salt_same_fingerprint_other_salt_other_fingerprint() -> None:
    assert fingerprint(PASSWORD, SALT) == fingerprint(PASSWORD, SALT)
    assert fingerprint(PASSWORD, SALT) != fingerprint(PASSWORD, b"987654321")
    assert fingerprint(PASSWORD, SALT) != fingerprint(PASSWORD + "x", SALT)


def test_matches_salted_legacy_and_unknown() -> None:
    fp = fingerprint(PASSWORD, SALT)
    # no API key is involved in a salted fingerprint
    assert matches(fp, PASSWORD, "any-key") is True
    assert matches(fp, "another-password", "any-key") is False
    old = legacy_fingerprint(PASSWORD, API_SECRET)
    assert matches(old, PASSWORD, API_SECRET) is True
    # an old marker that does not match: the password or the key changed, unknowable
    assert matches(old, PASSWORD, "rotated-key") is None
    assert matches(old, "another-password", API_SECRET) is None
    for junk in ("", "s2.AAAA.BBBB", "s1.!!.AAAA", "s1.QUJD.AAAA", "zz", "x" * 16):
        assert matches(junk, PASSWORD, API_SECRET) is None


def test_salt_of_reads_only_well_formed_s1() -> None:
    assert salt_of(fingerprint(PASSWORD, SALT)) == SALT
    for text in (None, "", legacy_fingerprint(PASSWORD, API_SECRET), "s1.QUJD.x", "s1.a.b.c"):
        assert salt_of(text) is None


def test_salt_per_resource() -> None:
    recorded = fingerprint(PASSWORD, SALT)
    assert salt_for(recorded, "ST_abc") == SALT  # the marker's salt is kept
    # a live resource without one: derived from its (random, server-made) ID, so every
    # runner derives the same; different resources, different salts
    assert salt_for(None, "ST_abc") == salt_for("3f9a0c1d2e4b5a67", "ST_abc")
    assert salt_for(None, "ST_abc") != salt_for(None, "ST_abd")
    assert len(salt_for(None, "ST_abc")) == secrets.SALT_BYTES
    # a create: random, the same for one resource within one run
    assert salt_for(None, None, "outbound_trunk/a") == salt_for(None, None, "outbound_trunk/a")
    assert salt_for(None, None, "outbound_trunk/a") != salt_for(None, None, "outbound_trunk/b")


def test_prefetch_fills_the_cache_on_threads() -> None:
    pairs = [(f"pw-{i}", bytes([i]) * 9) for i in range(6)]
    fingerprint.cache_clear()
    prefetch([*pairs, *pairs])  # repeated pairs are derived once
    info = fingerprint.cache_info()
    assert (info.currsize, info.misses) == (6, 6)
    assert [fingerprint(*p) for p in pairs] == [
        f"s1.{base64.urlsafe_b64encode(p[1]).decode()}."
        + base64.urlsafe_b64encode(
            hashlib.scrypt(p[0].encode(), salt=p[1], n=2**11, r=8, p=1, dklen=9)
        )
        .decode()
        .rstrip("=")
        for p in pairs
    ]


@pytest.mark.parametrize("masked", [False, True])
def test_the_marker_holds_no_password_and_no_unsalted_hash(masked: bool) -> None:
    password = "n3w-r0tated-Pa55-qq"
    cfg = config(outbound={"acme": out_model(auth={"username": "u", "password": password})})
    trunk = outbound_pb("acme", "ST_1", username="u", password="old-Pa55", masked=masked)
    [change] = make_plan(cfg, live(outbound=(trunk,)), api_secret=API_SECRET).changes
    marker = marker_for(change)
    text = render_metadata({}, marker)
    fp = json.loads(text)["sipctl"]["fp"]
    assert fp == change.fields[0].new_fingerprint  # what the plan showed is what is written
    assert parse_metadata(text).marker == marker
    unsalted = [
        hashlib.sha256(password.encode()).hexdigest(),
        hashlib.sha1(password.encode()).hexdigest(),
        hashlib.md5(password.encode()).hexdigest(),
        legacy_fingerprint(password, API_SECRET),
    ]
    assert password not in text
    for h in unsalted:
        assert h[:8] not in text
    assert matches(fp, password, "unrelated-key") is True


def test_a_create_gets_a_random_salt_of_its_own() -> None:
    pw = {"username": "u", "password": PASSWORD}
    cfg = config(outbound={"a": out_model(auth=pw), "b": out_model(auth=pw)})
    a, b = make_plan(cfg, live(), api_secret=API_SECRET).changes
    fa, fb = marker_for(a).auth_fingerprint, marker_for(b).auth_fingerprint
    assert fa and fb and salt_of(fa) != salt_of(fb)  # equal passwords do not show as equal
    assert marker_for(a).auth_fingerprint == fa  # the ledger's second write agrees
    assert matches(fa, PASSWORD, "k") and matches(fb, PASSWORD, "k")
