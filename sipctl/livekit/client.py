"""Open a ``livekit.api.LiveKitAPI`` for a connection and make its failures readable.

Everything that talks to LiveKit goes through :func:`connect` and :func:`call`.
:func:`translate_error` (an exception to raise) and :func:`describe` (a record, for test
calls, which judge failures instead of raising them) are one translation.
A failure becomes one :class:`~sipctl.errors.SipctlError` line that names what to fix:
the secret, the URL or the key's grants; or the server's own answer, naming the resource.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Protocol, TypeAlias, TypeVar

import aiohttp
from google.protobuf.message import DecodeError
from livekit.api import LiveKitAPI, ServerError

from sipctl.errors import ConnectionFailed, LiveKitError, SipctlError
from sipctl.livekit.records import FailureKind, LiveKitFailure

log = logging.getLogger(__name__)

# What a request to LiveKit raises when it got no usable answer, besides ServerError (for
# reads a caller may count as one failed sample: status polls, looks at the rooms).
NO_ANSWER = (OSError, TimeoutError, DecodeError, aiohttp.ClientError)
# Said when an answer is not what LiveKit sends.
PROXY_HINT = "(is LIVEKIT_URL a LiveKit server, or a proxy in between?)"

T = TypeVar("T")

# One request's total budget (the SDK's default is 10 s).
REQUEST_TIMEOUT = 10.0
# Transient failures are retried this many times with exponential backoff and jitter.
RETRIES = 3
BACKOFF = 0.2
BACKOFF_MAX = 2.0

_TRANSIENT_STATUS = frozenset({500, 502, 503, 504})

# An open connection, as the layers above hold it (they never import the SDK themselves).
Session: TypeAlias = LiveKitAPI


class ConnectionLike(Protocol):
    """What :func:`connect` needs (``sipctl.commands.common.Connection`` fits)."""

    @property
    def url(self) -> str: ...

    @property
    def api_key(self) -> str: ...

    @property
    def api_secret(self) -> str: ...


class TransientError(LiveKitError):
    """A failure worth retrying (5xx, unavailable, deadline, reset connection)."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class UnreadableAnswer(LiveKitError):
    """LiveKit's answer could not be read (not protobuf, cut short, no resource ID): the
    request itself may have been carried out."""


class ServerAnswer(LiveKitError):
    """LiveKit answered with a Twirp error that is not about the connection."""

    def __init__(self, message: str, code: str, status: int, server_message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.server_message = server_message


@asynccontextmanager
async def connect(
    conn: ConnectionLike, timeout: float = REQUEST_TIMEOUT
) -> AsyncIterator[LiveKitAPI]:
    """``async with connect(conn) as api:`` a LiveKitAPI whose session is always closed."""
    url = conn.url.strip()
    if "://" not in url:
        raise ConnectionFailed(
            f"LIVEKIT_URL {url!r} is not a URL: write it as https://<project>.livekit.cloud "
            "or http://127.0.0.1:7880 (--url)"
        )
    try:
        api = LiveKitAPI(
            url,
            conn.api_key,
            conn.api_secret,
            timeout=aiohttp.ClientTimeout(total=timeout),
            # sipctl retries by itself and looks a name up before repeating a create; the
            # SDK's own failover (LiveKit Cloud hosts) would repeat creates and dials blindly.
            failover=False,
        )
    except ValueError as exc:
        raise ConnectionFailed(f"cannot use LIVEKIT_URL {url!r}: {exc} (--url)") from None
    try:
        yield api
    finally:
        await api.aclose()


def is_transient(exc: BaseException) -> bool:
    """Whether a retry may succeed: 5xx/unavailable/deadline answers, resets, timeouts."""
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, ServerError):
        if exc.status == 401 or exc.status == 501:
            return False
        return exc.code in ("unavailable", "deadline_exceeded") or exc.status in _TRANSIENT_STATUS
    if isinstance(exc, aiohttp.ClientConnectorError):
        return False  # refused / DNS: the URL is wrong, not flaky
    return isinstance(exc, aiohttp.ClientConnectionError | asyncio.TimeoutError | ConnectionError)


def translate_error(exc: BaseException, conn: ConnectionLike, what: str) -> SipctlError:
    """One clear error for a failed request; ``what`` names the request or resource.

    Connection problems (wrong secret, unreachable URL, missing grant) name the setting to
    fix; other server answers keep the server's code and message.
    """
    return _translate(exc, conn, what)[1]


def describe(exc: BaseException, conn: ConnectionLike, what: str) -> LiveKitFailure:
    """The same translation as :func:`translate_error`, as a record (test calls judge it
    instead of raising it)."""
    return _translate(exc, conn, what)[0]


def _scheme_hint(exc: BaseException, url: str) -> str:
    """A hint when the URL's scheme and the server disagree about TLS (issue #12 item 13).

    https/wss to a plain-HTTP server fails the TLS handshake (the server's first bytes are
    not a TLS record: OpenSSL's WRONG_VERSION_NUMBER); http/ws to a TLS server is reset
    or dropped by the server, which cannot read a plain request as a ClientHello."""
    secure = url.startswith(("https://", "wss://"))
    text = str(exc)
    if secure and (
        isinstance(exc, aiohttp.ClientConnectorSSLError) or "WRONG_VERSION_NUMBER" in text
    ):
        return "; the server answered in plain HTTP: use http:// (or ws://) in LIVEKIT_URL"
    if not secure and (
        isinstance(exc, aiohttp.ServerDisconnectedError | ConnectionResetError)
        or "Connection reset" in text
        or "HTTPS server" in text
    ):
        return (
            "; if that server speaks TLS (LiveKit Cloud does), use https:// (or wss://) "
            "in LIVEKIT_URL"
        )
    return ""


def _translate(
    exc: BaseException, conn: ConnectionLike, what: str
) -> tuple[LiveKitFailure, SipctlError]:
    """The one translation of LiveKit and network failures for plan, apply and calls."""
    if isinstance(exc, SipctlError):
        return LiveKitFailure("livekit", str(exc)), exc
    url = conn.url
    transient = is_transient(exc)
    if isinstance(exc, ServerError):
        code, status, msg = exc.code, exc.status, exc.message

        def failure(kind: FailureKind, text: str) -> LiveKitFailure:
            return LiveKitFailure(kind, text, code, status, server_message=msg, transient=transient)

        # The SIP bridge reports the provider's final status in the error's metadata
        # (livekit/sip pkg/sip/outbound.go, SIPStatus.GRPCStatus: sip_status_code/_status).
        meta = exc.metadata or {}
        raw = meta.get("sip_status_code")
        if raw is not None and raw.isdigit():
            text = f"{what}: LiveKit answered {code}: {msg}"
            err = ServerAnswer(text, code, status, msg)
            rec = replace(
                failure("sip", text),
                sip_status_code=int(raw),
                sip_status=meta.get("sip_status") or None,
            )
            return rec, err
        if status == 401 and code != "unauthenticated":
            # The auth middleware answers in plain text; the SDK sees code "unknown".
            text = (
                f"LiveKit at {url} refused the credentials (HTTP 401): check "
                f"LIVEKIT_API_KEY and LIVEKIT_API_SECRET (--api-key/--api-secret); "
                f"API key {conn.api_key!r} is unknown or the secret does not match"
            )
            return failure("auth", text), ConnectionFailed(text)
        if code in ("unauthenticated", "permission_denied"):
            text = (
                f"LiveKit at {url} denied {what} ({code}: {msg or 'permissions denied'}): "
                f"API key {conn.api_key!r} needs the SIP admin grant (sip.admin) for "
                "trunks and dispatch rules, and sip.call for test calls"
            )
            return failure("auth", text), ConnectionFailed(text)
        if code == "bad_route" or (status == 404 and code == "unknown"):
            text = (
                f"{url} does not serve LiveKit's SIP API (HTTP {status} {code}): check "
                "LIVEKIT_URL (--url)"
            )
            return failure("unreachable", text), ConnectionFailed(text)
        if msg:
            detail = f"{code}: {msg}"
        elif code == "unknown":  # no Twirp error in the body: an HTML page, a proxy's answer
            detail = (
                f"HTTP {status} without a Twirp error (a proxy in between, or LiveKit failing?)"
            )
        else:
            detail = f"{code} (HTTP {status})"
        text = f"{what}: LiveKit answered {detail}"
        rec = replace(failure("livekit", text), server_message=msg or detail)
        if transient:
            return rec, TransientError(text, exc)
        return rec, ServerAnswer(text, code, status, exc.message)
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = (exc.os_error.strerror or str(exc.os_error)) if exc.os_error else str(exc)
        text = f"cannot reach LiveKit at {url} ({reason}): check LIVEKIT_URL (--url)"
        return LiveKitFailure("unreachable", text), ConnectionFailed(text + _scheme_hint(exc, url))
    if isinstance(exc, aiohttp.InvalidURL):
        text = f"LIVEKIT_URL {url!r} is not a valid URL (--url)"
        return LiveKitFailure("unreachable", text), ConnectionFailed(text)
    if isinstance(exc, asyncio.TimeoutError):
        text = (
            f"{what}: LiveKit at {url} did not answer in time: check LIVEKIT_URL (--url) "
            "and the network"
        )
        return LiveKitFailure("timeout", text, transient=True), TransientError(text, exc)
    if isinstance(exc, DecodeError):
        text = (
            f"{what}: LiveKit at {url} answered with something that is not a valid "
            f"protobuf message {PROXY_HINT}"
        )
        return LiveKitFailure("malformed", text, "malformed"), UnreadableAnswer(text)
    if isinstance(exc, aiohttp.ClientError | ConnectionError):
        text = f"{what}: connection to LiveKit at {url} failed ({exc or type(exc).__name__})"
        text += _scheme_hint(exc, url)
        return LiveKitFailure("unreachable", text, transient=True), TransientError(text, exc)
    if isinstance(exc, OSError):
        text = f"{what}: connection to LiveKit at {url} failed ({exc})"
        return LiveKitFailure("unreachable", text), LiveKitError(text)
    text = f"{what}: {type(exc).__name__}: {exc}"
    return LiveKitFailure("internal", text), LiveKitError(text)


async def call(
    conn: ConnectionLike,
    what: str,
    fn: Callable[[], Awaitable[T]],
    *,
    retries: int = RETRIES,
    before_retry: Callable[[], Awaitable[T | None]] | None = None,
) -> T:
    """Run one request, retrying transient failures with backoff; raise a clear error.

    ``before_retry`` runs before each retry; when it returns a value, that is the result
    (a create looks its name up first, so a lost answer never becomes a second create).
    """
    attempt = 0
    while True:
        try:
            return await fn()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            err = translate_error(exc, conn, what)
            if not isinstance(err, TransientError) or attempt >= retries:
                raise err from None
            delay = min(BACKOFF_MAX, BACKOFF * 2**attempt) * (0.5 + random.random())
            attempt += 1
            log.debug("%s failed (%s); retry %d/%d in %.2fs", what, err, attempt, retries, delay)
            await asyncio.sleep(delay)
            if before_retry is not None:
                found = await before_retry()
                if found is not None:
                    return found
