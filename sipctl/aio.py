"""Small asyncio helpers shared by apply and the dial runner."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any


async def wait_all(tasks: Sequence[asyncio.Task[Any]]) -> None:
    """Wait for every task; when cancelled, cancel them and still wait for them (they
    finish their writes, hang up and delete rooms, which needs the connection still
    open), then re-raise."""
    cancelled = False
    while True:
        pending = [t for t in tasks if not t.done()]
        if not pending:
            break
        try:
            await asyncio.wait(pending)
        except asyncio.CancelledError:
            cancelled = True
            for t in pending:
                t.cancel()
    if cancelled:
        raise asyncio.CancelledError
