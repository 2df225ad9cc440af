"""HTTP Digest authentication for SIP (RFC 2617, RFC 8760, RFC 3261 §22).

401 carries ``WWW-Authenticate`` and is answered with ``Authorization``; 407 carries
``Proxy-Authenticate`` and is answered with ``Proxy-Authorization``. Supported:
MD5, MD5-sess, SHA-256, SHA-256-sess, SHA-512-256(-sess); qop ``auth`` or none
(RFC 2069 style). ``auth-int`` alone is refused with :class:`DigestError`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from sipctl.sandbox.sip.message import SipParseError

CHALLENGE_HEADER = {401: "WWW-Authenticate", 407: "Proxy-Authenticate"}
CREDENTIALS_HEADER = {401: "Authorization", 407: "Proxy-Authorization"}


class DigestError(ValueError):
    """A challenge that cannot be answered (bad syntax, unknown algorithm or qop)."""


def _sha512_256(data: bytes) -> str:
    return hashlib.new("sha512_256", data).hexdigest()


_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda b: hashlib.md5(b).hexdigest(),
    "SHA-256": lambda b: hashlib.sha256(b).hexdigest(),
    "SHA-512-256": _sha512_256,
}


@dataclass
class Challenge:
    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: list[str] = field(default_factory=list)
    opaque: str | None = None
    stale: bool = False
    domain: str | None = None

    @classmethod
    def parse(cls, value: str) -> Challenge:
        """Parse ``Digest realm="..", nonce="..", qop="auth,auth-int", ...``."""
        scheme, _, rest = value.strip().partition(" ")
        if scheme.lower() != "digest":
            raise DigestError(f"unsupported auth scheme {scheme!r}")
        params = parse_auth_params(rest)
        if "realm" not in params or "nonce" not in params:
            raise DigestError("challenge without realm or nonce")
        qop = [q.strip().lower() for q in params.get("qop", "").split(",") if q.strip()]
        return cls(
            realm=params["realm"],
            nonce=params["nonce"],
            algorithm=params.get("algorithm", "MD5"),
            qop=qop,
            opaque=params.get("opaque"),
            stale=params.get("stale", "").lower() == "true",
            domain=params.get("domain"),
        )


def parse_auth_params(text: str) -> dict[str, str]:
    """``a="x, y", b=z`` → {"a": "x, y", "b": "z"} (names lower-cased)."""
    params: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t,":
            i += 1
        if i >= n:
            break
        eq = text.find("=", i)
        if eq < 0:
            raise DigestError(f"bad auth parameter near {text[i:]!r}")
        name = text[i:eq].strip().lower()
        i = eq + 1
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            i += 1
            buf: list[str] = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(text[i])
                i += 1
            if i >= n:
                raise DigestError("unterminated quoted auth parameter")
            i += 1
            value = "".join(buf)
        else:
            end = text.find(",", i)
            end = n if end < 0 else end
            value = text[i:end].strip()
            i = end
        if not name:
            raise DigestError("empty auth parameter name")
        params[name] = value
    return params


@dataclass
class Credentials:
    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str
    qop: str | None = None
    cnonce: str | None = None
    nc: str | None = None
    opaque: str | None = None

    def header_value(self) -> str:
        parts = [
            f'username="{_quote(self.username)}"',
            f'realm="{_quote(self.realm)}"',
            f'nonce="{_quote(self.nonce)}"',
            f'uri="{_quote(self.uri)}"',
            f'response="{self.response}"',
            f"algorithm={self.algorithm}",
        ]
        if self.qop is not None:
            parts += [f'cnonce="{self.cnonce}"', f"qop={self.qop}", f"nc={self.nc}"]
        if self.opaque is not None:
            parts.append(f'opaque="{_quote(self.opaque)}"')
        return "Digest " + ", ".join(parts)


def _quote(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def compute_response(
    challenge: Challenge,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str | None = None,
    nc: int = 1,
) -> Credentials:
    """Answer a challenge (RFC 2617 §3.2.2 / RFC 8760 §2)."""
    algorithm = challenge.algorithm.upper()
    sess = algorithm.endswith("-SESS")
    base = algorithm[:-5] if sess else algorithm
    h = _HASHES.get(base)
    if h is None:
        raise DigestError(f"unsupported digest algorithm {challenge.algorithm!r}")
    qop: str | None = None
    if challenge.qop:
        if "auth" not in challenge.qop:
            raise DigestError(f"unsupported qop {','.join(challenge.qop)!r}")
        qop = "auth"
    if cnonce is None:
        cnonce = secrets.token_hex(8)
    nc_text = f"{nc:08x}"

    def hx(s: str) -> str:
        return h(s.encode("utf-8"))

    ha1 = hx(f"{username}:{challenge.realm}:{password}")
    if sess:
        ha1 = hx(f"{ha1}:{challenge.nonce}:{cnonce}")
    ha2 = hx(f"{method}:{uri}")
    if qop is None:
        response = hx(f"{ha1}:{challenge.nonce}:{ha2}")
    else:
        response = hx(f"{ha1}:{challenge.nonce}:{nc_text}:{cnonce}:{qop}:{ha2}")
    return Credentials(
        username=username,
        realm=challenge.realm,
        nonce=challenge.nonce,
        uri=uri,
        response=response,
        algorithm=challenge.algorithm,
        qop=qop,
        cnonce=cnonce if qop else None,
        nc=nc_text if qop else None,
        opaque=challenge.opaque,
    )


def parse_challenge_header(value: str) -> Challenge:
    """Like :meth:`Challenge.parse` but any syntax problem becomes DigestError."""
    try:
        return Challenge.parse(value)
    except SipParseError as exc:  # pragma: no cover - parse never raises it today
        raise DigestError(str(exc)) from None
