"""Live progress of long work on a terminal: one status line on stderr, redrawn in place.

    [37/200] 2 failed · 8 running: acme-us dialing, acme-eu ringing, … · ~12s left

Shown only when both stdout and stderr are terminals and stdout carries the text output
(see :func:`wanted`): a pipe, a file, CI logs or a machine format on stdout get nothing
extra. Other output is printed between redraws (:meth:`Progress.clear` first), so the line
never mixes with it.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from typing import TextIO

# Redraws at most this often (a finished item always redraws): flicker-free, cheap.
MIN_REDRAW_S = 0.1


def wanted(text_on_stdout: bool) -> bool:
    """Whether live progress belongs on this terminal."""
    if not text_on_stdout or os.environ.get("TERM") == "dumb":
        return False
    return sys.stdout.isatty() and sys.stderr.isatty()


def time_left(elapsed: float, done: int, total: int) -> float | None:
    """Seconds left at the rate so far; None before the first item finishes."""
    if done <= 0 or done >= total:
        return None
    return elapsed / done * (total - done)


def _duration(seconds: float) -> str:
    s = round(seconds)
    if s < 60:
        return f"{max(s, 1)}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def status_line(
    done: int,
    total: int,
    failed: int,
    elapsed: float,
    running: Iterable[str] = (),
    *,
    width: int = 100,
) -> str:
    """The text of the line (no colour): counts first, so a narrow terminal keeps them."""
    parts = [f"[{done}/{total}]"]
    if failed:
        parts.append(f"{failed} failed")
    active = list(running)
    left = time_left(elapsed, done, total)
    tail = f"~{_duration(left)} left" if left is not None else ""
    head = " · ".join(parts)
    if active:
        head += f" · {len(active)} running: " + ", ".join(active)
    text = head + (f" · {tail}" if tail else "")
    if len(text) <= width - 1:
        return text
    # too wide: shorten the list of running items, keep counts and the time left
    room = width - 2 - len(tail) - 3
    if room < 10:
        return text[: max(width - 2, 10)] + "…"
    return head[:room].rstrip(", ") + "…" + (f" · {tail}" if tail else "")


class Progress:
    """The live line for ``total`` items. Disabled, every method does nothing."""

    def __init__(
        self,
        total: int,
        *,
        enabled: bool,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.enabled = enabled and total > 0
        self.stream = stream or sys.stderr
        self.clock = clock
        self.start = clock()
        self.done = 0
        self.failed = 0
        self.running: dict[str, str] = {}
        self._drawn = False
        self._last = 0.0

    def started(self, name: str, status: str = "") -> None:
        self.running[name] = status
        self._draw()

    def status(self, name: str, status: str) -> None:
        if name in self.running:
            self.running[name] = status
            self._draw()

    def finished(self, name: str, *, ok: bool) -> None:
        self.running.pop(name, None)
        self.done += 1
        if not ok:
            self.failed += 1
        self._draw(force=True)

    def clear(self) -> None:
        """Erase the line before other output is printed (it comes back on the next event)."""
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False

    def finish(self) -> None:
        self.clear()

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if not force and self._drawn and now - self._last < MIN_REDRAW_S:
            return
        self._last = now
        width = shutil.get_terminal_size((100, 20)).columns
        running = [f"{n} {s}".rstrip() for n, s in sorted(self.running.items())]
        text = status_line(
            self.done, self.total, self.failed, now - self.start, running, width=width
        )
        self.stream.write("\r\x1b[K" + text)
        self.stream.flush()
        self._drawn = True
