"""Live progress of ``sipctl check``: a redrawn status line on a TTY, result lines."""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field

import click

from sipctl.render.check_text import line
from sipctl.results import DialEvent


@dataclass
class Progress:
    """Live progress on a TTY (one status line on stderr, redrawn), result lines as calls
    finish when the text report goes to stdout, nothing else otherwise."""

    total: int
    stream_text: bool
    live: bool
    color: bool
    done: int = 0
    running: dict[str, tuple[str, float]] = field(default_factory=dict)
    _drawn: bool = False

    def __call__(self, event: DialEvent) -> None:
        if event.kind == "start":
            self.running[event.name] = ("dialing", time.monotonic())
        elif event.kind == "status" and event.status:
            self.running[event.name] = (event.status, time.monotonic())
        elif event.kind == "retry" and event.result is not None:
            self._clear()
            click.echo(
                f"retrying {event.name} (attempt {event.attempt + 1}): {event.result.cause}",
                err=True,
            )
        elif event.kind == "done" and event.result is not None:
            self.done += 1
            self.running.pop(event.name, None)
            self._clear()
            if self.stream_text:
                click.echo(line(event.result, color=self.color))
        self._draw()

    def _clear(self) -> None:
        if self._drawn:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self._drawn = False

    def _draw(self) -> None:
        if not self.live or not self.running:
            self._clear()
            return
        width = shutil.get_terminal_size((100, 20)).columns
        parts = [f"{name} {status}" for name, (status, _) in sorted(self.running.items())]
        text = f"[{self.done}/{self.total}] " + ", ".join(parts)
        if len(text) > width - 1:
            text = text[: max(width - 2, 10)] + "…"
        sys.stderr.write("\r\x1b[K" + text)
        sys.stderr.flush()
        self._drawn = True

    def finish(self) -> None:
        self._clear()
