"""Where ``sipctl check`` sends its reports: ``--format`` and ``--output`` paired up.

A format without a file goes to stdout (one at most), a file without a format is known by
its suffix; no format at all is text on stdout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from sipctl.errors import SipctlError
from sipctl.files import write_atomic
from sipctl.render import check_json, check_junit, check_markdown, check_prometheus, check_text
from sipctl.results import DialResult

FORMATS = ("text", "json", "junit", "prometheus", "markdown")
SUFFIXES = {
    ".txt": "text",
    ".json": "json",
    ".xml": "junit",
    ".prom": "prometheus",
    ".md": "markdown",
}


@dataclass(frozen=True)
class Output:
    format: str
    path: Path | None  # None: stdout


def plan_outputs(formats: Sequence[str], outputs: Sequence[Path]) -> list[Output]:
    """Pair ``--format`` and ``--output`` in order; a format without a file goes to stdout,
    a file without a format is known by its suffix. No format at all: text on stdout."""
    for f in formats:
        if f not in FORMATS:
            raise SipctlError(f"--format {f!r} is not one of {', '.join(FORMATS)}")
    pairs: list[Output] = []
    for i, f in enumerate(formats):
        pairs.append(Output(f, outputs[i] if i < len(outputs) else None))
    for path in outputs[len(formats) :]:
        fmt = SUFFIXES.get(path.suffix.lower())
        if fmt is None:
            raise SipctlError(
                f"--output {path}: add a --format for it (cannot tell the format from "
                f"{path.suffix or 'no suffix'!r})"
            )
        pairs.append(Output(fmt, path))
    to_stdout = [o for o in pairs if o.path is None]
    if len(to_stdout) > 1:
        raise SipctlError(
            "only one --format can go to stdout: give the others an --output FILE each"
        )
    return pairs or [Output("text", None)]


RENDERERS: dict[str, Callable[..., str]] = {
    "text": check_text.render,
    "json": check_json.render,
    "junit": check_junit.render,
    "prometheus": check_prometheus.render,
    "markdown": check_markdown.render,
}


def render(fmt: str, results: Sequence[DialResult], elapsed: float | None) -> str:
    return RENDERERS[fmt](results, elapsed=elapsed)


def files_only(outputs: Sequence[Output], mode: str) -> list[Output]:
    """The file outputs, for a mode that streams text to stdout (``--watch``)."""
    for o in outputs:
        if o.path is None and o.format != "text":
            raise SipctlError(
                f"{mode} writes --format {o.format} to a file only: add --output FILE"
            )
    return [o for o in outputs if o.path is not None]


def stdout_format(outputs: Sequence[Output]) -> str | None:
    return next((o.format for o in outputs if o.path is None), None)


def write_files(
    outputs: Sequence[Output], results: Sequence[DialResult], elapsed: float | None
) -> None:
    """Write every ``--output`` file (atomically: a scraper never reads half a report)."""
    for o in outputs:
        if o.path is not None:
            write_atomic(o.path, render(o.format, results, elapsed))


def append_step_summary(
    path: str, results: Sequence[DialResult], elapsed: float | None
) -> str | None:
    """Append the Markdown report to GitHub's job summary; a warning line if that fails."""
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(check_markdown.render(results, elapsed=elapsed))
    except OSError as exc:
        return f"warning: cannot append to GITHUB_STEP_SUMMARY: {exc}"
    return None


def report(
    outputs: Sequence[Output],
    results: Sequence[DialResult],
    elapsed: float,
    *,
    stream_text: bool,
    step_summary: str | None,
) -> None:
    """After a run: the summary line (when the text streamed), the stdout format, the
    files, the degraded warning and GitHub's job summary (``step_summary``: its path)."""
    if stream_text:
        click.echo(check_text.summary(results, elapsed))
    for out in outputs:
        if out.path is None and out.format != "text":
            click.echo(render(out.format, results, elapsed), nl=False)
    write_files(outputs, results, elapsed)
    warnings = [check_text.degraded_warning(results)]
    if step_summary:
        warnings.append(append_step_summary(step_summary, results, elapsed))
    for warning in warnings:
        if warning:
            click.echo(warning, err=True)
