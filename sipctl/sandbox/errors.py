"""Twirp errors as livekit-server writes them (code, msg, meta; HTTP status by code)."""

from __future__ import annotations

# twitchtv/twirp v8 errors.go ServerHTTPStatusFromErrorCode
HTTP_STATUS: dict[str, int] = {
    "canceled": 408,
    "unknown": 500,
    "invalid_argument": 400,
    "malformed": 400,
    "deadline_exceeded": 408,
    "not_found": 404,
    "bad_route": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "unauthenticated": 401,
    "resource_exhausted": 429,
    "failed_precondition": 412,
    "aborted": 409,
    "out_of_range": 400,
    "unimplemented": 501,
    "internal": 500,
    "unavailable": 503,
    "dataloss": 500,
}

# Prefix livekit-server adds to errors that came over psrpc (SIP bridge and friends).
PSRPC_PREFIX = "twirp error unknown: "


class TwirpError(Exception):
    """An error answered as Twirp JSON ``{"code", "msg", "meta"}``."""

    def __init__(self, code: str, msg: str, meta: dict[str, str] | None = None) -> None:
        super().__init__(f"{code}: {msg}")
        if code not in HTTP_STATUS:
            raise ValueError(f"unknown twirp code {code!r}")
        self.code = code
        self.msg = msg
        self.meta = dict(meta or {})

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "msg": self.msg}
        if self.meta:
            body["meta"] = dict(self.meta)
        return body
