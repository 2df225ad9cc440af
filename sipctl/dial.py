"""The dial runner: place test calls (with retries and limits) and judge each one.

:class:`DialRunner` is shared by ``sipctl check`` (once and ``--watch``) and the
verification dials of ``sipctl apply``; :func:`run_calls` is its one-shot form. The wire
side is :mod:`sipctl.livekit.calls`, the verdict rules are :mod:`sipctl.verdict`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sipctl.aio import wait_all
from sipctl.errors import SipctlError
from sipctl.livekit.calls import (
    PollTiming,
    ProbeSpec,
    managed_trunks,
    place_call,
    probe_identity,
    room_name,
)
from sipctl.livekit.client import ConnectionLike, Session, connect, translate_error
from sipctl.livekit.records import CallRecord
from sipctl.livekit.rtc import AudioListener
from sipctl.models import Settings, TestCall
from sipctl.results import DialEvent, DialResult, Reason, Verdict, expect_text
from sipctl.route_arrival import dial_arrival
from sipctl.signals import on_signals
from sipctl.verdict import SIP_PHRASES, Judgement, judge, with_audio

log = logging.getLogger(__name__)

ROOM_PREFIX = "sipctl-check"
# The SIP header on every probe's INVITE (CreateSIPParticipant's headers); its value is
# the test call's name.
PROBE_HEADER = "X-Sipctl-Probe"

EventCallback = Callable[[DialEvent], None]
Calls = Sequence[tuple[str, TestCall]]


class CallLimiter:
    """At most ``parallelism`` calls at once, and ``max_per_trunk`` through one trunk.

    Carriers reject bursts, so the per-trunk cap holds across everything sharing this
    limiter (``--watch`` shares one between its runs).
    """

    def __init__(self, parallelism: int, max_per_trunk: int) -> None:
        if parallelism < 1 or max_per_trunk < 1:
            raise ValueError("parallelism and max_per_trunk must be at least 1")
        self.parallelism = parallelism
        self.max_per_trunk = max_per_trunk
        self._all = asyncio.Semaphore(parallelism)
        self._trunks: dict[str, asyncio.Semaphore] = {}
        self.active: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.peak_total = 0

    @contextlib.asynccontextmanager
    async def slot(self, trunk: str) -> AsyncIterator[None]:
        sem = self._trunks.setdefault(trunk, asyncio.Semaphore(self.max_per_trunk))
        # The trunk first: a call queued behind a busy trunk holds no global slot.
        async with sem, self._all:
            self.active[trunk] = self.active.get(trunk, 0) + 1
            self.peak[trunk] = max(self.peak.get(trunk, 0), self.active[trunk])
            self.peak_total = max(self.peak_total, sum(self.active.values()))
            try:
                yield
            finally:
                self.active[trunk] -= 1


def error_result(name: str, call: TestCall, cause: str, **kw: Any) -> DialResult:
    """The result of a call that could not be placed at all (verdict error)."""
    return DialResult(
        name=name,
        trunk=call.trunk,
        to=call.to,
        expect=expect_text(call),
        verdict=Verdict.ERROR,
        cause=cause,
        reason=kw.pop("reason", Reason.LIVEKIT),
        attempts=kw.pop("attempts", 0),
        **kw,
    )


@dataclass
class DialRunner:
    """Places test calls through one LiveKit connection.

    - ``limiter``: calls at once overall and per trunk; share one between runs (``--watch``)
      so the per-trunk cap holds across them;
    - ``on_event``: hears a :class:`DialEvent` on each attempt start, status change, retry
      and final result (from the event loop; keep it quick, it must not block);
    - ``timing``, ``retry_delay``, ``room_prefix``: polling, the pause between attempts,
      and the prefix of the fresh room each attempt dials into (``<prefix>-<call>-<random>``).
    """

    conn: ConnectionLike
    limiter: CallLimiter
    on_event: EventCallback | None = None
    timing: PollTiming | None = None
    retry_delay: float = 1.0
    room_prefix: str = ROOM_PREFIX
    probe_header: str = PROBE_HEADER
    media_timeout_initial: float | None = None  # LiveKit's, for no_media verdicts
    run_id: str = field(default_factory=lambda: secrets.token_hex(6))
    _problems: dict[str, str] = field(default_factory=dict, init=False)

    @classmethod
    def using(
        cls, settings: Settings, conn: ConnectionLike, limiter: CallLimiter, **kw: Any
    ) -> DialRunner:
        """A runner whose probes follow ``settings`` (probe_header, media_timeout_initial)."""
        return cls(
            conn,
            limiter,
            probe_header=settings.probe_header,
            media_timeout_initial=settings.media_timeout_initial,
            **kw,
        )

    _addresses: dict[str, str] = field(default_factory=dict, init=False)
    _arrivals: dict[str, asyncio.Lock] = field(default_factory=dict, init=False)

    async def run(
        self, calls: Calls, trunk_ids: Mapping[str, str] | None = None
    ) -> list[DialResult]:
        """Place ``calls`` (``(name, TestCall)`` pairs) concurrently; results in order.

        ``trunk_ids``: trunk name -> live ``sip_trunk_id``; None: look up the outbound
        trunks sipctl manages by name. A call whose trunk has no id gets an *error* verdict
        telling to run ``sipctl apply``. Never raises for a call's outcome (LiveKit
        unreachable, trunk missing, SIP failure: each is a verdict); cancellation hangs up
        and deletes the rooms before it propagates.
        """
        if not calls:
            return []
        try:
            async with connect(self.conn) as api:
                if trunk_ids is None:
                    try:
                        ids = await self._managed_ids(api, calls)
                    except Exception as exc:
                        what = "listing the outbound trunks"
                        return self._all_errors(calls, str(translate_error(exc, self.conn, what)))
                else:
                    ids = dict(trunk_ids)
                tasks = [
                    asyncio.create_task(self._one(api, n, c, ids.get(c.trunk)), name=f"call {n}")
                    for n, c in calls
                ]
                await wait_all(tasks)
                return [t.result() for t in tasks]
        except SipctlError as exc:  # the connection settings themselves are unusable
            return self._all_errors(calls, str(exc))

    def _emit(self, event: DialEvent) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:  # progress output must never break a call
            log.debug("on_event callback failed", exc_info=True)

    def _all_errors(self, calls: Calls, cause: str) -> list[DialResult]:
        results = [error_result(n, c, cause) for n, c in calls]
        for r in results:
            self._emit(DialEvent("done", r.name, r.trunk, 0, result=r))
        return results

    async def _managed_ids(self, api: Session, calls: Calls) -> dict[str, str]:
        """Trunk name -> id among the trunks sipctl manages; problems noted per trunk."""
        managed, other = await managed_trunks(api, self.conn)
        ids: dict[str, str] = {}
        for trunk in {c.trunk for _, c in calls}:
            found = managed.get(trunk, [])
            if len(found) == 1:
                ids[trunk] = found[0].id
                self._addresses[trunk] = found[0].address
            elif len(found) > 1:
                self._problems[trunk] = (
                    f"{len(found)} outbound trunks managed by sipctl are named {trunk} "
                    f"({', '.join(sorted(t.id for t in found))}): delete the extra ones, then "
                    "run `sipctl apply`"
                )
            elif trunk in other:
                self._problems[trunk] = (
                    f"trunk {trunk} exists in LiveKit but is not managed by sipctl: "
                    "run `sipctl apply` to adopt it"
                )
        return ids

    async def _one(
        self, api: Session, name: str, call: TestCall, trunk_id: str | None
    ) -> DialResult:
        if trunk_id is None:
            default = f"trunk {call.trunk} is not in LiveKit: run `sipctl apply` first"
            result = error_result(name, call, self._problems.get(call.trunk, default))
        else:
            try:
                result = await self.dial(api, name, call, trunk_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not stop the other calls
                log.debug("test call %s crashed", name, exc_info=True)
                result = error_result(
                    name,
                    call,
                    f"internal error ({type(exc).__name__}: {exc})",
                    reason=Reason.INTERNAL,
                )
        self._emit(DialEvent("done", name, call.trunk, result.attempts, result=result))
        return result

    async def dial(self, api: Session, name: str, call: TestCall, trunk_id: str) -> DialResult:
        """Place one test call (1 + ``call.retries`` attempts at most) and judge it."""
        if call.arrive is not None:
            # One probe per dialled number at a time: arrivals are told apart by number.
            lock = self._arrivals.setdefault(call.to, asyncio.Lock())
            async with lock, self.limiter.slot(call.trunk):
                self._emit(DialEvent("start", name, call.trunk, 1))
                return await dial_arrival(
                    api, self.conn, name, call, self._spec(name, call, trunk_id, 1)
                )
        # Timed from the first dial, not from the queue: waiting for a free slot on the
        # trunk (max_calls_per_trunk) is not the trunk's time.
        t0: float | None = None
        started = time.time()
        result: DialResult | None = None
        for attempt in range(1, call.retries + 2):
            spec = self._spec(name, call, trunk_id, attempt)

            def on_status(status: str, elapsed: float, attempt: int = attempt) -> None:
                self._emit(
                    DialEvent("status", name, call.trunk, attempt, status=status, elapsed=elapsed)
                )

            async with self.limiter.slot(call.trunk):
                if t0 is None:
                    t0, started = time.monotonic(), time.time()
                self._emit(DialEvent("start", name, call.trunk, attempt))
                listener = await self._listen(name, call, spec)
                try:
                    record = await place_call(
                        api, spec, conn=self.conn, on_status=on_status, timing=self.timing
                    )
                finally:
                    heard = await listener.finish() if listener is not None else None
            j = judge(call, record, self._addresses.get(call.trunk), self.media_timeout_initial)
            finding = None
            if call.audio is not None and heard is not None:
                j, finding = with_audio(j, call.audio, heard)
            result = _result(name, call, trunk_id, j, record, attempt, t0, started)
            if finding is not None and heard is not None and heard.error is None:
                result.audio_active_ratio = finding.active_ratio
                result.audio_echo_delay = finding.echo_delay
            if j.verdict.ok or not j.retry or attempt > call.retries:
                break
            self._emit(DialEvent("retry", name, call.trunk, attempt, result=result))
            await asyncio.sleep(self.retry_delay)
        assert result is not None
        return result

    async def _listen(self, name: str, call: TestCall, spec: ProbeSpec) -> AudioListener | None:
        """For a call with ``audio``: join its room before dialling (sipctl.livekit.rtc)."""
        if call.audio is None:
            return None
        listener = AudioListener(self.conn, spec.room, spec.identity, name, call.audio)
        await listener.start()
        return listener

    def _spec(self, name: str, call: TestCall, trunk_id: str, attempt: int) -> ProbeSpec:
        return ProbeSpec(
            trunk_id=trunk_id,
            to=call.to,
            room=room_name(self.room_prefix, name),
            identity=probe_identity(name),
            from_number=call.from_ or "",
            # ringing past answer_within could only end in a fail: stop ringing there
            ringing_timeout=call.effective_answer_within,
            hold=call.hold,
            dtmf=call.dtmf,
            participant_name=f"sipctl probe {name}",
            # so agents and analytics can recognise probes and skip them
            attributes={
                "sipctl.probe": name,
                "sipctl.run": self.run_id,
                "sipctl.call": name,
                "sipctl.attempt": str(attempt),
            },
            headers={self.probe_header: name},
        )


def _result(
    name: str,
    call: TestCall,
    trunk_id: str,
    j: Judgement,
    record: CallRecord,
    attempt: int,
    t0: float,
    started: float,
) -> DialResult:
    result = DialResult(
        name=name,
        trunk=call.trunk,
        to=call.to,
        expect=expect_text(call),
        verdict=j.verdict,
        cause=j.cause,
        reason=j.reason,
        sip_status_code=j.sip_status_code,
        sip_status=j.sip_status or (SIP_PHRASES.get(j.sip_status_code or 0)),
        # An answer can come before a poll sees 'ringing': the ring was no later than the
        # answer, so that is the post-dial delay (every answered call reports one).
        post_dial_delay=record.ringing_at if record.ringing_at is not None else record.answered_at,
        time_to_answer=record.answered_at,
        duration=time.monotonic() - t0,
        attempts=attempt,
        trunk_id=trunk_id,
        room=record.room,
        sip_call_id=record.sip_call_id or None,
        error_code=(record.error.code or None) if record.error else None,
        started_at=started,
        cleaned_up=record.cleanup_error is None,
    )
    if record.cleanup_error is not None:
        # The call may still be up: the probe did not do its job, whatever the trunk did.
        if result.verdict.ok:
            result.verdict = Verdict.ERROR
            result.reason = Reason.LIVEKIT
            result.cause += f", but the probe {record.cleanup_error}"
        else:
            result.cause += f" (and the probe {record.cleanup_error})"
        log.warning("%s", record.cleanup_error)
    return result


async def run_calls(
    conn: ConnectionLike,
    calls: Calls,
    *,
    trunk_ids: Mapping[str, str] | None = None,
    parallelism: int,
    max_per_trunk: int,
    on_event: EventCallback | None = None,
    timing: PollTiming | None = None,
    retry_delay: float = 1.0,
    room_prefix: str = ROOM_PREFIX,
    settings: Settings | None = None,
) -> list[DialResult]:
    """One run of ``calls`` with a fresh :class:`CallLimiter` (see :meth:`DialRunner.run`);
    ``settings``: the probe header and LiveKit's media timeout (defaults when None)."""
    runner = DialRunner.using(
        settings or Settings(),
        conn,
        CallLimiter(parallelism, max_per_trunk),
        on_event=on_event,
        timing=timing,
        retry_delay=retry_delay,
        room_prefix=room_prefix,
    )
    return await runner.run(calls, trunk_ids)


def dial_now(
    conn: ConnectionLike,
    calls: Calls,
    *,
    parallelism: int,
    max_per_trunk: int,
    on_event: EventCallback | None = None,
    settings: Settings | None = None,
) -> tuple[list[DialResult], float]:
    """Run ``calls`` once from synchronous code: the results and the seconds it took.

    SIGINT/SIGTERM cancel the run; every call hangs up and deletes its room, then
    KeyboardInterrupt is raised (exit 130).
    """

    async def main() -> list[DialResult]:
        task = asyncio.current_task()
        assert task is not None
        with on_signals(task.cancel):
            return await run_calls(
                conn,
                calls,
                parallelism=parallelism,
                max_per_trunk=max_per_trunk,
                on_event=on_event,
                settings=settings,
            )

    t0 = time.monotonic()
    try:
        results = asyncio.run(main())
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    return results, time.monotonic() - t0
