"""Ctrl-C and SIGTERM inside an asyncio command: one helper for check, watch and apply.

A signal must not raise KeyboardInterrupt in the middle of a call or a write: the
handler given here runs in the event loop instead (cancel a task, set a stop event), and
the code under it hangs up calls and deletes rooms before it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator, Sequence

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def on_signals(
    handler: Callable[[], object], signals: Sequence[signal.Signals] = STOP_SIGNALS
) -> Iterator[None]:
    """While inside, ``signals`` call ``handler`` in the running loop (not the default
    action). Outside the main thread (tests) nothing is installed: Ctrl-C still reaches
    ``asyncio.run`` as KeyboardInterrupt there."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in signals:
        try:
            loop.add_signal_handler(sig, handler)
            installed.append(sig)
        except (ValueError, RuntimeError, NotImplementedError):
            pass
    try:
        yield
    finally:
        for sig in installed:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)


def stop_then_cancel(
    stop: asyncio.Event, task: asyncio.Task[object] | None, on_first: Callable[[], None]
) -> Callable[[], None]:
    """A handler for :func:`on_signals`: the first signal sets ``stop`` (and calls
    ``on_first``, e.g. to log what happens now); a second one cancels ``task``."""

    def handler() -> None:
        if stop.is_set():
            if task is not None:
                task.cancel()
            return
        stop.set()
        on_first()

    return handler
