"""Progress output: a redrawn status line on a TTY, result lines as calls finish."""

from __future__ import annotations

import pytest

from sipctl.render.check_progress import Progress
from sipctl.results import DialEvent, DialResult, Verdict


def done(name: str) -> DialEvent:
    r = DialResult(
        name=name, trunk="t", to="+1555", expect="answered", verdict=Verdict.PASS, cause="ok"
    )
    return DialEvent("done", name, "t", result=r)


def test_live_status_line_then_result_lines(capsys: pytest.CaptureFixture[str]) -> None:
    p = Progress(total=2, stream_text=True, live=True, color=False)
    p(DialEvent("start", "a", "t"))
    p(DialEvent("start", "b", "t"))
    p(DialEvent("status", "a", "t", status="ringing", elapsed=0.3))
    p(done("a"))
    p(done("b"))
    p.finish()
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "PASS     a: ok (trunk t, to +1555, took 0.00s)",
        "PASS     b: ok (trunk t, to +1555, took 0.00s)",
    ]
    # redrawn at most every 0.1 s, and whenever a call finishes (sipctl.render.progress)
    assert "\r\x1b[K[0/2] · 1 running: a dialing" in err
    assert "\r\x1b[K[1/2] · 1 running: b dialing · ~" in err
    assert err.endswith("\r\x1b[K")  # the status line is gone at the end


def test_plain_mode_prints_only_results(capsys: pytest.CaptureFixture[str]) -> None:
    p = Progress(total=1, stream_text=True, live=False, color=False)
    p(DialEvent("start", "a", "t"))
    p(DialEvent("status", "a", "t", status="ringing"))
    p(done("a"))
    out, err = capsys.readouterr()
    assert out.startswith("PASS     a: ok")
    assert err == ""


def test_machine_output_on_stdout_stays_clean(capsys: pytest.CaptureFixture[str]) -> None:
    p = Progress(total=1, stream_text=False, live=False, color=False)
    p(DialEvent("start", "a", "t"))
    p(done("a"))
    assert capsys.readouterr() == ("", "")
