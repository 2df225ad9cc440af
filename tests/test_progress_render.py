"""The live progress line (sipctl/render/progress.py): its text, its redraws, when it shows."""

from __future__ import annotations

import io

import pytest

from sipctl.render import progress
from sipctl.render.progress import Progress, status_line, time_left


def test_status_line_counts_failures_running_and_time_left() -> None:
    assert status_line(0, 200, 0, 1.0) == "[0/200]"
    assert status_line(50, 200, 0, 10.0) == "[50/200] · ~30s left"
    text = status_line(37, 200, 2, 74.0, ["acme-us dialing", "acme-eu ringing"])
    assert text == "[37/200] · 2 failed · 2 running: acme-us dialing, acme-eu ringing · ~5m26s left"
    assert status_line(200, 200, 3, 99.0) == "[200/200] · 3 failed"


def test_a_narrow_terminal_keeps_the_counts_and_the_time_left() -> None:
    running = [f"trunk-{i:03d} dialing" for i in range(30)]
    text = status_line(10, 100, 1, 10.0, running, width=60)
    assert len(text) <= 59
    assert text.startswith("[10/100] · 1 failed · 30 running: trunk-000")
    assert text.endswith("… · ~1m30s left")


def test_time_left() -> None:
    assert time_left(5.0, 0, 10) is None
    assert time_left(5.0, 10, 10) is None
    assert time_left(4.0, 2, 10) == pytest.approx(16.0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_redraws_in_place_and_clears() -> None:
    out, clock = io.StringIO(), Clock()
    p = Progress(3, enabled=True, stream=out, clock=clock)
    p.started("a", "dialing")
    p.started("b", "dialing")  # within MIN_REDRAW_S: not redrawn
    assert out.getvalue() == "\r\x1b[K[0/3] · 1 running: a dialing"
    clock.now += 2
    p.finished("a", ok=False)  # a finished item always redraws
    assert out.getvalue().endswith("\r\x1b[K[1/3] · 1 failed · 1 running: b dialing · ~4s left")
    p.clear()
    assert out.getvalue().endswith("\r\x1b[K")
    n = len(out.getvalue())
    p.clear()  # nothing drawn: nothing to erase
    p.finish()
    assert len(out.getvalue()) == n


def test_disabled_progress_writes_nothing() -> None:
    out = io.StringIO()
    p = Progress(5, enabled=False, stream=out)
    p.started("a")
    p.finished("a", ok=True)
    p.finish()
    assert out.getvalue() == ""
    assert not Progress(0, enabled=True, stream=out).enabled


def test_wanted_only_on_terminals_with_text_on_stdout(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def __init__(self, tty: bool) -> None:
            super().__init__()
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    monkeypatch.delenv("TERM", raising=False)
    monkeypatch.setattr(progress.sys, "stdout", Tty(True))
    monkeypatch.setattr(progress.sys, "stderr", Tty(True))
    assert progress.wanted(text_on_stdout=True)
    assert not progress.wanted(text_on_stdout=False)  # JSON, JUnit, ... on stdout
    monkeypatch.setenv("TERM", "dumb")
    assert not progress.wanted(text_on_stdout=True)
    monkeypatch.delenv("TERM")
    monkeypatch.setattr(progress.sys, "stdout", Tty(False))  # piped or redirected
    assert not progress.wanted(text_on_stdout=True)
