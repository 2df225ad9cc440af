"""sipctl's exceptions and the located problem record used for config errors.

Every error a user can cause derives from :class:`SipctlError` and carries a message that
names the file and line, or the resource and the server's answer. The CLI prints it as
one line (or one line per problem) and exits 1; nothing below the CLI prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


def format_path(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


@dataclass(frozen=True, order=True)
class Problem:
    """One finding in the config, with its place: ``file:line:col: path: message``."""

    file: str
    line: int
    col: int
    path: tuple[str | int, ...] = field(compare=False)
    message: str = field(compare=False)
    severity: str = field(default="error", compare=False)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}" if self.line else self.file
        dotted = format_path(self.path)
        prefix = f"{self.severity}: " if self.severity in ("warning", "note") else ""
        return f"{where}: {prefix}{dotted + ': ' if dotted else ''}{self.message}"


class SipctlError(Exception):
    """Base of every error sipctl reports to the user (exit code 1)."""

    exit_code = 1


class ConfigError(SipctlError):
    """The configuration is invalid; ``problems`` lists every finding at once."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(problems)
        errors = sum(1 for p in self.problems if p.severity == "error")
        warnings = len(self.problems) - errors
        text = f"{errors} error{'s' if errors != 1 else ''}"
        if warnings:
            text += f" and {warnings} warning{'s' if warnings != 1 else ''}"
        super().__init__(f"{text} in the configuration")

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


class ConnectionFailed(SipctlError):
    """LiveKit could not be reached or refused the credentials."""


class LiveKitError(SipctlError):
    """LiveKit answered a request with an error, or with something that does not fit."""
