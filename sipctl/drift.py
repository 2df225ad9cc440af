"""Drift as a monitored signal: ``check --watch`` re-plans on ``settings.drift_schedule``.

Someone edits a trunk in the LiveKit console; the next re-plan counts the changes
``sipctl apply`` would make, by kind and action, and the exporter publishes them
(``sipctl_drift_changes{kind,action}``) with the time of the last successful re-plan, so
an alert fires on drift and on a re-plan that keeps failing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, get_args

from sipctl.config.model import Config
from sipctl.errors import SipctlError
from sipctl.fields import KINDS
from sipctl.livekit.connection import Connection
from sipctl.plan_result import Action
from sipctl.reconcile import current_plan
from sipctl.results import DriftStatus
from sipctl.schedule import Schedule

log = logging.getLogger(__name__)

Changes = Mapping[tuple[str, str], int]
ACTIONS: tuple[str, ...] = get_args(Action)


def no_changes() -> dict[tuple[str, str], int]:
    """Every (kind, action) at zero: a series per pair, so alerts see 0, not absence."""
    return {(k, a): 0 for k in KINDS for a in ACTIONS}


def replanner(conn: Connection, config: Config) -> Callable[[], Awaitable[Changes]]:
    """Plan as ``sipctl plan`` would (deletes as ``settings.prune`` says) and count."""

    async def replan() -> Changes:
        plan, _ = await current_plan(conn, config, allow_delete=config.settings.prune)
        return Counter((c.kind, c.action) for c in plan.changes)

    return replan


@dataclass
class DriftMonitor:
    """Re-plans on its schedule (never two at once) and keeps the latest counts."""

    schedule: Schedule
    replan: Callable[[], Awaitable[Changes]]
    clock: Callable[[], float] = time.time
    on_change: Callable[[DriftStatus], None] | None = None
    runs: int = 0
    failures: int = 0
    changes: dict[tuple[str, str], int] = field(default_factory=no_changes)
    last_success: float | None = None
    last_error: str | None = None
    next_run: float = 0.0
    running: bool = False

    def plan_first(self, now: float) -> None:
        self.next_run = self.schedule.first(now)

    def due(self, now: float) -> bool:
        """Whether a re-plan starts now (then the next one is planned)."""
        if self.next_run > now:
            return False
        self.next_run = self.schedule.next_after(max(self.next_run, now))
        return not self.running

    async def run_once(self, now: float | None = None) -> None:
        self.running = True
        before = (sum(self.changes.values()), self.last_error)
        try:
            counts = await self.replan()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a failed re-plan is a signal too, never the end
            self.failures += 1
            self.last_error = str(exc) if isinstance(exc, SipctlError) else repr(exc)
            log.debug("drift re-plan failed", exc_info=True)
        else:
            self.changes = {**no_changes(), **counts}
            self.last_success = self.clock()
            self.last_error = None
        finally:
            self.runs += 1
            self.running = False
        if self.on_change is not None and (sum(self.changes.values()), self.last_error) != before:
            self.on_change(self.status())

    def status(self) -> DriftStatus:
        return DriftStatus(
            schedule=self.schedule.text,
            runs=self.runs,
            failures=self.failures,
            changes=dict(self.changes),
            last_success=self.last_success,
            last_error=self.last_error,
            next_run=self.next_run,
        )


def monitor_for(
    conn: ConnectionSource, config: Config, on_change: Callable[[DriftStatus], None]
) -> DriftMonitor | None:
    """The monitor ``settings.drift_schedule`` asks for, or None when it is unset."""
    if not config.settings.drift_schedule:
        return None
    replan = replanner(conn.get(), config)
    return DriftMonitor(Schedule(config.settings.drift_schedule), replan, on_change=on_change)


class ConnectionSource(Protocol):
    """The command's lazily resolved connection."""

    def get(self) -> Connection: ...
