"""A string that never shows its value: repr, str, format, logging, JSON and pickling; and
the salted fingerprint sipctl records of a password instead of the password."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

MASK = "(sensitive value)"


# --- fingerprints --------------------------------------------------------------------
#
# sipctl records a fingerprint of each trunk's auth password in its ownership marker, so a
# server that hides passwords (LiveKit Cloud) still lets it see a rotated password. Anyone
# who can list the trunks reads the marker (livekit-cli cmd/lk/sip.go listSipOutboundTrunk
# and listSipInboundTrunk print ``item.Metadata`` verbatim beside ``userPass``'s "****"),
# and a project may have several key pairs (livekit/livekit pkg/config/config.go ``Keys``),
# so no API key may enter it, and a guess must cost a slow, memory-hard KDF:
#
#     s1.<salt>.<hash>     scrypt(password, salt, N=2**11, r=8, p=1), 9-byte salt and hash
#                          (URL-safe base64, no padding): 28 characters in all
#
# The scheme tag names the parameters, so a later sipctl can raise them with ``s2`` and
# still read ``s1``; a marker with a scheme it does not know cannot be judged (None).
# The cost was chosen by measurement (bench/bench_secrets.py): against a server that hides
# passwords a plan derives one per trunk, and ``plan`` of 1,000 password trunks must stay
# under 5 s on 2 shared cores. N=2**11 takes ~3 ms (1,000: ~3.5 s of CPU, ~2.2 s on two
# threads); N=2**12 takes ~6 ms: 6.6 s of CPU, 5.5-6.4 s measured, over the budget unless
# both cores are free. One salt per resource: a guess costs one derivation per trunk
# attacked, and equal passwords do not show as equal (README "Secrets").

SCHEME = "s1"
SCRYPT_N = 2**11  # 2 MiB of memory per guess (128 * r * N bytes)
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 9
HASH_BYTES = 9
_THREADS = 4  # hashlib.scrypt releases the GIL while it works (OpenSSL)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        return None


@functools.lru_cache(maxsize=16384)
def fingerprint(password: str, salt: bytes) -> str:
    """``s1.<salt>.<hash>``: what the marker records of a password (see above).

    Cached by (password, salt): a plan derives each pair once, whoever asks for it."""
    digest = hashlib.scrypt(
        password.encode(),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=256 * SCRYPT_R * SCRYPT_N,
        dklen=HASH_BYTES,
    )
    return f"{SCHEME}.{_b64(salt)}.{_b64(digest)}"


def prefetch(pairs: Iterable[tuple[str, bytes]]) -> None:
    """Derive many (password, salt) fingerprints at once, on a few threads, into the cache
    :func:`fingerprint` reads (a plan against a server that hides passwords needs one per
    trunk)."""
    todo = list(dict.fromkeys(pairs))
    if len(todo) < 2:
        for password, salt in todo:
            fingerprint(password, salt)
        return
    workers = min(_THREADS, os.cpu_count() or 1, len(todo))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fingerprint") as pool:
        for _ in pool.map(lambda pair: fingerprint(*pair), todo):
            pass


def salt_of(recorded: str | None) -> bytes | None:
    """The salt of a recorded ``s1`` fingerprint; None for any other text."""
    if not recorded:
        return None
    parts = recorded.split(".")
    if len(parts) != 3 or parts[0] != SCHEME:
        return None
    salt = _unb64(parts[1])
    return salt if salt is not None and len(salt) == SALT_BYTES else None


# Salts of resources created in this process: random, and the same for one resource
# each time it is asked for (the create writes its marker, the rules ledger may again).
_RUN_KEY = os.urandom(16)


def salt_for(recorded: str | None, resource_id: str | None, key: str = "") -> bytes:
    """The salt to fingerprint a resource's password with: one per resource.

    The one its marker records; else, for a live resource (adopted, or marked by an older
    sipctl), one derived from its LiveKit ID (random, server-made, unique), so every runner
    computes the same; else (a create, ``key`` naming it) a random one."""
    salt = salt_of(recorded)
    if salt is not None:
        return salt
    seed = b"id\0" + resource_id.encode() if resource_id else _RUN_KEY + key.encode()
    return hashlib.sha256(b"sipctl fingerprint salt\0" + seed).digest()[:SALT_BYTES]


def legacy_fingerprint(value: str, key: str) -> str:
    """HMAC-SHA256(key, value)[:16 hex]: the fingerprint sipctl recorded before ``s1``,
    keyed with the API secret. Read only to compare old markers (and for keyed digests
    of values every holder of that key can read anyway)."""
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()[:16]


def is_legacy(recorded: str) -> bool:
    return len(recorded) == 16 and all(c in "0123456789abcdef" for c in recorded)


def matches(recorded: str, password: str, api_secret: str) -> bool | None:
    """Whether a recorded fingerprint is that of ``password``; None when it cannot be told.

    ``s1``: derived again with its salt. A legacy HMAC fingerprint: compared with the
    current API secret; it matches when neither the password nor the key changed, and
    when it does not, either may have: unknown (None). Any other text: unknown."""
    salt = salt_of(recorded)
    if salt is not None:
        return hmac.compare_digest(fingerprint(password, salt), recorded)
    if is_legacy(recorded) and hmac.compare_digest(
        legacy_fingerprint(password, api_secret), recorded
    ):
        return True
    return None


class Secret:
    """Holds a secret loaded from the environment (or, if allowed, from the YAML).

    ``source`` says where it came from (``${TWILIO_SIP_PASSWORD}``) and is safe to print.
    """

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "") -> None:
        self._value = value
        self.source = source

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def validate(value: object) -> Secret:
            if isinstance(value, Secret):
                return value
            if isinstance(value, str):
                return Secret(value)
            raise ValueError("must be a string")

        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda s: MASK),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "string",
            "description": "A secret: write a ${VARIABLE} reference; the value is read "
            "from the environment at load time.",
        }
