"""How the listing follows pages (sipctl.livekit.state._paginate): the sandbox answers as
LiveKit OSS does (everything at once, ``limit`` ignored), so a server that honours
``limit`` is played here by a function: pure logic, counted requests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from sipctl.errors import LiveKitError
from sipctl.livekit.state import _paginate


@dataclass
class Conn:
    url: str = "http://127.0.0.1:7880"
    api_key: str = "key"
    api_secret: str = "secret"


@dataclass
class Page:
    after: str
    limit: int


def server(total: int, *, honour_limit: bool, honour_after: bool = True) -> tuple[Any, list[Page]]:
    ids = [f"ST_{i:05d}" for i in range(total)]
    asked: list[Page] = []

    async def fetch(page: Page) -> Sequence[str]:
        asked.append(page)
        out = [i for i in ids if i > page.after] if honour_after else list(ids)
        return out[: page.limit] if honour_limit else out

    return fetch, asked


def run(fetch: Any, size: int) -> list[str]:
    return asyncio.run(
        _paginate(Conn(), "listing", fetch, lambda after, n: Page(after, n), str, page_size=size)
    )


@pytest.mark.parametrize(
    ("total", "requests"),
    [(0, 1), (1, 1), (999, 1), (1000, 2), (1001, 2), (2500, 3), (3000, 4)],
)
def test_a_server_honouring_limit_is_read_page_by_page(total: int, requests: int) -> None:
    fetch, asked = server(total, honour_limit=True)
    assert run(fetch, 1000) == [f"ST_{i:05d}" for i in range(total)]
    assert len(asked) == requests  # a short page ends it: no request for an empty one
    assert [p.after for p in asked[1:]] == [f"ST_{i:05d}" for i in range(999, total, 1000)][
        : requests - 1
    ]


@pytest.mark.parametrize("total", [1, 1500, 10_000])
def test_livekit_oss_sends_everything_in_one_answer(total: int) -> None:
    fetch, asked = server(total, honour_limit=False)
    assert len(run(fetch, 1000)) == total
    # more than the limit (or fewer): the server sent everything; 1,000 exactly asks again
    assert len(asked) == 1


def test_a_server_ignoring_after_id_stops_when_nothing_is_new() -> None:
    fetch, asked = server(1000, honour_limit=True, honour_after=False)
    assert len(run(fetch, 1000)) == 1000
    assert len(asked) == 2


def test_a_server_that_never_moves_forward_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = iter(range(10**6))

    async def fetch(page: Page) -> Sequence[str]:
        return [f"ST_{next(counter):07d}" for _ in range(page.limit)]

    monkeypatch.setattr("sipctl.livekit.state.MAX_PAGES", 5)
    with pytest.raises(LiveKitError, match="kept returning new pages after 5 requests"):
        run(fetch, 10)
