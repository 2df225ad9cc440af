"""Failures become one clear line naming what to fix; transient ones are retried."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
import pytest
from livekit.api import ServerError

from sipctl.errors import ConnectionFailed, LiveKitError
from sipctl.livekit import client
from sipctl.livekit.client import ServerAnswer, TransientError, call, is_transient, translate_error


@dataclass(frozen=True)
class Conn:
    url: str = "http://127.0.0.1:7880"
    api_key: str = "devkey"
    api_secret: str = "secret-secret-secret-secret-1234"


def test_wrong_secret_names_the_variables() -> None:
    err = translate_error(ServerError("unknown", "", status=401), Conn(), "listing outbound trunks")
    assert isinstance(err, ConnectionFailed)
    assert "LIVEKIT_API_KEY and LIVEKIT_API_SECRET" in str(err)
    assert Conn().api_secret not in str(err)


def test_missing_grant_names_the_grant() -> None:
    err = translate_error(
        ServerError("unauthenticated", "permissions denied", status=401),
        Conn(),
        "listing outbound trunks",
    )
    assert isinstance(err, ConnectionFailed)
    assert "permissions denied" in str(err) and "sip.admin" in str(err)


def test_not_a_livekit_server() -> None:
    err = translate_error(ServerError("bad_route", "no handler", status=404), Conn(), "x")
    assert isinstance(err, ConnectionFailed) and "LIVEKIT_URL" in str(err)


def test_server_answers_keep_code_and_message() -> None:
    err = translate_error(
        ServerError("invalid_argument", "no trunk numbers specified", status=400),
        Conn(),
        "creating outbound trunk 'a'",
    )
    assert isinstance(err, ServerAnswer)
    assert str(err) == (
        "creating outbound trunk 'a': LiveKit answered invalid_argument: no trunk numbers specified"
    )
    assert not is_transient(ServerError("invalid_argument", "", status=400))


@pytest.mark.parametrize(
    ("code", "status"),
    [("unavailable", 503), ("deadline_exceeded", 408), ("internal", 500), ("unknown", 502)],
)
def test_transient_server_errors(code: str, status: int) -> None:
    assert is_transient(ServerError(code, "x", status=status))
    assert isinstance(
        translate_error(ServerError(code, "x", status=status), Conn(), "x"), TransientError
    )


async def test_unreachable_url_is_one_line() -> None:
    async with client.connect(Conn(url="http://127.0.0.1:9")) as api:
        from livekit.protocol.sip import ListSIPOutboundTrunkRequest

        with pytest.raises(ConnectionFailed) as err:
            await call(
                Conn(url="http://127.0.0.1:9"),
                "listing",
                lambda: api.sip.list_outbound_trunk(ListSIPOutboundTrunkRequest()),
            )
    text = str(err.value)
    assert text.startswith("cannot reach LiveKit at http://127.0.0.1:9")
    assert text.endswith("check LIVEKIT_URL (--url)")
    assert "\n" not in text


async def test_not_a_url() -> None:
    with pytest.raises(ConnectionFailed, match="is not a URL"):
        async with client.connect(Conn(url="localhost")):
            pass


async def test_retries_transient_then_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "BACKOFF", 0.001)
    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise aiohttp.ServerDisconnectedError()
        return "ok"

    assert await call(Conn(), "x", flaky) == "ok"
    assert attempts == 3


async def test_retry_looks_up_before_repeating(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "BACKOFF", 0.001)
    attempts = 0

    async def lost_answer() -> str:
        nonlocal attempts
        attempts += 1
        raise ServerError("unavailable", "reply lost", status=503)

    async def lookup() -> str | None:
        return "found"

    assert await call(Conn(), "create", lost_answer, before_retry=lookup) == "found"
    assert attempts == 1


async def test_gives_up_after_the_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "BACKOFF", 0.001)

    async def down() -> None:
        raise TimeoutError()

    with pytest.raises(TransientError, match="did not answer in time"):
        await call(Conn(), "listing", down)


def test_garbage_answer() -> None:
    from google.protobuf.message import DecodeError

    err = translate_error(DecodeError("bad"), Conn(), "listing outbound trunks")
    assert isinstance(err, LiveKitError) and "not a valid protobuf message" in str(err)
