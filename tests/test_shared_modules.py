"""The small shared modules: exit codes, the atomic writer, the signal helper, schedules."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from sipctl.errors import SipctlError
from sipctl.exitcodes import ExitCode
from sipctl.files import write_atomic
from sipctl.schedule import Schedule
from sipctl.signals import on_signals, stop_then_cancel


def test_exit_codes_are_the_documented_contract() -> None:
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 130]


def test_write_atomic_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "report.prom"
    write_atomic(target, "one\n")
    write_atomic(target, "two\n")
    assert target.read_text() == "two\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.prom"]


def test_write_atomic_names_the_file_on_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SipctlError, match=f"cannot write {blocker}/out.json"):
        write_atomic(blocker / "out.json", "{}")


def test_on_signals_runs_the_handler_in_the_loop_and_uninstalls() -> None:
    seen: list[str] = []

    async def main() -> None:
        stop = asyncio.Event()

        def handler() -> None:
            seen.append("sig")
            stop.set()

        with on_signals(handler):
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.wait_for(stop.wait(), 5)
        assert signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None)

    asyncio.run(main())
    assert seen == ["sig"]


def test_stop_then_cancel_stops_first_cancels_second() -> None:
    async def main() -> tuple[bool, bool, list[int]]:
        stop = asyncio.Event()
        firsts: list[int] = []
        task = asyncio.create_task(asyncio.sleep(10))
        handler = stop_then_cancel(stop, task, lambda: firsts.append(1))
        handler()
        await asyncio.sleep(0)
        after_first = task.cancelled() or task.done()
        handler()
        with pytest.raises(asyncio.CancelledError):
            await task
        return stop.is_set(), after_first, firsts

    stopped, after_first, firsts = asyncio.run(main())
    assert stopped and not after_first and firsts == [1]


def test_schedule_messages_and_rate() -> None:
    assert Schedule.parse(" every 10m ") == "every 10m"
    assert Schedule("every 10m").runs_per_hour() == 6
    assert Schedule("0 9 * * 1-5").runs_per_hour() == pytest.approx(5 / 168)
    with pytest.raises(ValueError, match="5-field cron expression or 'every 30s'"):
        Schedule("* * *")
    with pytest.raises(ValueError, match="is not a valid cron expression"):
        Schedule("61 * * * *")
    with pytest.raises(ValueError, match="at least 1s"):
        Schedule("every 500ms")
