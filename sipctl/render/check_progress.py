"""Live progress of ``sipctl check``: a redrawn status line on a TTY, result lines."""

from __future__ import annotations

from dataclasses import dataclass, field

import click

from sipctl.render import progress
from sipctl.render.check_text import line
from sipctl.results import DialEvent


@dataclass
class Progress:
    """Live progress on a terminal (one status line on stderr, redrawn: done/total, failures,
    time left; sipctl.render.progress), result lines as calls finish when the text report
    goes to stdout, nothing else otherwise."""

    total: int
    stream_text: bool
    live: bool
    color: bool
    line: progress.Progress = field(init=False)

    def __post_init__(self) -> None:
        self.line = progress.Progress(self.total, enabled=self.live)

    @property
    def done(self) -> int:
        return self.line.done

    def __call__(self, event: DialEvent) -> None:
        if event.kind == "start":
            self.line.started(event.name, "dialing")
        elif event.kind == "status" and event.status:
            self.line.status(event.name, event.status)
        elif event.kind == "retry" and event.result is not None:
            self.line.clear()
            click.echo(
                f"retrying {event.name} (attempt {event.attempt + 1}): {event.result.cause}",
                err=True,
            )
        elif event.kind == "done" and event.result is not None:
            self.line.clear()
            if self.stream_text:
                click.echo(line(event.result, color=self.color))
            self.line.finished(event.name, ok=event.result.ok)

    def finish(self) -> None:
        self.line.finish()
