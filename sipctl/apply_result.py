"""What an apply did: plain result objects that apply fills and renderers read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sipctl.exitcodes import ExitCode
from sipctl.plan_result import Change
from sipctl.results import DialResult

Status = Literal["applied", "failed", "not attempted"]


@dataclass
class Outcome:
    change: Change
    status: Status = "not attempted"
    error: str | None = None  # the server's error (failed) or why not attempted
    id: str | None = None  # the live ID after the change (a create's new ID)
    seconds: float = 0.0


@dataclass
class ApplyReport:
    outcomes: list[Outcome]
    interrupted: bool = False
    verification: list[DialResult] = field(default_factory=list)
    verification_skipped: str | None = None  # why no verification dials ran
    verification_interrupted: bool = False  # Ctrl-C during the dials
    warnings: list[str] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def __repr__(self) -> str:
        # Short on purpose (see LiveState.__repr__).
        counts = {s: self.count(s) for s in ("applied", "failed", "not attempted")}
        return f"ApplyReport({counts}, interrupted={self.interrupted})"

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(o.status == "applied" for o in self.outcomes)

    @property
    def verification_ok(self) -> bool:
        return all(r.ok for r in self.verification)

    @property
    def exit_code(self) -> ExitCode:
        if self.interrupted or self.verification_interrupted:
            return ExitCode.INTERRUPTED
        if not self.ok:
            return ExitCode.ERROR
        return ExitCode.OK if self.verification_ok else ExitCode.FAILED
