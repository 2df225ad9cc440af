"""Access tokens and grants, as livekit-server checks them.

livekit-server's auth middleware (pkg/service/auth.go) answers plain-text 401s for a bad
Authorization header or a token it cannot verify; a request without any token passes, and
each handler then checks its grant and answers Twirp ``unauthenticated`` "permissions
denied". Token verification follows protocol auth/verifier.go (golang-jwt v5): HS256 only,
the issuer names the API key, ``exp`` required, one minute of leeway. Failure texts are
golang-jwt's, prefixed by the middleware.
"""

from __future__ import annotations

import time
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from sipctl.sandbox.errors import TwirpError

LEEWAY_S = 60.0
CACHE_SIZE = 1024
BEARER = "Bearer "

MSG_BAD_HEADER = "invalid authorization header. Must start with Bearer "
MSG_BAD_TOKEN = "invalid authorization token"
MSG_BAD_KEY = "invalid API key"
MSG_DENIED = "permissions denied"

# Signing methods golang-jwt knows; any other "alg" fails parsing (plain "invalid token").
_KNOWN_ALGS = frozenset(
    {"none", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512"}
    | {"PS256", "PS384", "PS512", "EdDSA"}
)


class AuthFailure(Exception):
    """Rejected by the middleware: answered as HTTP 401 with this plain-text body."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@dataclass(frozen=True)
class Grants:
    """The claims handlers look at. ``video`` keys are lower-cased: Go's JSON decoding
    matches struct fields case-insensitively, so ``roomadmin`` works like ``roomAdmin``."""

    identity: str = ""
    video: Mapping[str, Any] = field(default_factory=dict)
    sip_admin: bool = False
    sip_call: bool = False

    def _flag(self, key: str) -> bool:
        return self.video.get(key) is True

    @property
    def room(self) -> str:
        value = self.video.get("room", "")
        return value if isinstance(value, str) else ""

    @property
    def room_create(self) -> bool:
        return self._flag("roomcreate")

    @property
    def room_list(self) -> bool:
        return self._flag("roomlist")

    def room_admin_for(self, room: str) -> bool:
        return self._flag("roomadmin") and self.room == room


def denied() -> TwirpError:
    return TwirpError("unauthenticated", MSG_DENIED)


def require(grants: Grants | None, ok: bool) -> None:
    """Raise the Twirp auth error unless a token was given and ``ok`` holds."""
    if grants is None or not ok:
        raise denied()


def _lower_keys(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    return {str(k).lower(): v for k, v in value.items()}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Verifier:
    """Checks bearer tokens against the configured API keys."""

    def __init__(self, keys: Mapping[str, str]) -> None:
        self._keys = dict(keys)
        # Signature checks cost ~150 us; SDKs often reuse a token within the same second.
        # Only tokens whose signature verified are kept; time claims are rechecked on use.
        self._verified: OrderedDict[str, tuple[Grants, dict[str, Any]]] = OrderedDict()

    def from_headers(self, authorization: str | None, query_token: str | None) -> Grants | None:
        """Grants for a request, None when it has no token; raises AuthFailure."""
        if authorization:
            if not authorization.startswith(BEARER):
                raise AuthFailure(MSG_BAD_HEADER)
            token = authorization[len(BEARER) :]
        else:
            token = query_token or ""
        if not token:
            return None
        return self.verify(token)

    def verify(self, token: str, now: float | None = None) -> Grants:
        now = time.time() if now is None else now
        hit = self._verified.get(token)
        if hit is not None:
            self._verified.move_to_end(token)
            grants, times = hit
            _raise_for_claims(times, now)
            return grants
        grants, times = self._verify_fully(token, now)
        self._verified[token] = (grants, times)
        if len(self._verified) > CACHE_SIZE:
            self._verified.popitem(last=False)
        return grants

    def _verify_fully(self, token: str, now: float) -> tuple[Grants, dict[str, Any]]:
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise AuthFailure(MSG_BAD_TOKEN) from None
        alg = header.get("alg")
        if alg not in _KNOWN_ALGS or not isinstance(claims, dict):
            raise AuthFailure(MSG_BAD_TOKEN)
        issuer = claims.get("iss", "")
        if not isinstance(issuer, str) or any(
            k in claims and not _is_number(claims[k]) for k in ("exp", "nbf", "iat")
        ):
            raise AuthFailure(MSG_BAD_TOKEN)
        secret = self._keys.get(issuer)
        if not secret:
            raise AuthFailure(MSG_BAD_KEY)
        # golang-jwt decodes all claims (grants included) before checking the signature.
        video = claims.get("video")
        sip = _lower_keys(claims.get("sip"))
        if (video is not None and not isinstance(video, dict)) or any(
            not isinstance(v, bool) for v in sip.values()
        ):
            raise AuthFailure(f"{MSG_BAD_TOKEN}: token is malformed: could not JSON decode claim")
        if alg != "HS256":
            raise AuthFailure(
                f"{MSG_BAD_TOKEN}: token signature is invalid: signing method {alg} is invalid"
            )
        try:
            with warnings.catch_warnings():
                # Short dev secrets ("secret") are normal for a local sandbox.
                warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
                jwt.decode(
                    token,
                    secret,
                    algorithms=["HS256"],
                    options={
                        "verify_exp": False,
                        "verify_nbf": False,
                        "verify_iat": False,
                        "verify_aud": False,
                        "verify_iss": False,
                    },
                )
        except jwt.InvalidSignatureError:
            raise AuthFailure(
                f"{MSG_BAD_TOKEN}: token signature is invalid: signature is invalid"
            ) from None
        except jwt.PyJWTError:
            raise AuthFailure(MSG_BAD_TOKEN) from None
        times: dict[str, Any] = {k: claims[k] for k in ("exp", "nbf") if k in claims}
        _raise_for_claims(times, now)
        sub = claims.get("sub") or claims.get("jti") or ""
        grants = Grants(
            identity=sub if isinstance(sub, str) else "",
            video=_lower_keys(video),
            sip_admin=sip.get("admin") is True,
            sip_call=sip.get("call") is True,
        )
        return grants, times


def _raise_for_claims(claims: Mapping[str, Any], now: float) -> None:
    problems = _claim_problems(claims, now)
    if problems:
        raise AuthFailure(f"{MSG_BAD_TOKEN}: token has invalid claims: {problems}")


def _claim_problems(claims: Mapping[str, Any], now: float) -> str:
    """golang-jwt's Validator: errors joined by newlines, empty when valid."""
    errs: list[str] = []
    exp = claims.get("exp")
    if exp is None:
        errs.append("token is missing required claim: exp claim is required")
    elif not now < float(exp) + LEEWAY_S:
        errs.append("token is expired")
    nbf = claims.get("nbf")
    if nbf is not None and now + LEEWAY_S < float(nbf):
        errs.append("token is not valid yet")
    return "\n".join(errs)
