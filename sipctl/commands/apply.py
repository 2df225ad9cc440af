"""``sipctl apply``: make LiveKit match the config (or a saved plan), then verify."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from sipctl.apply import apply_plan
from sipctl.apply_result import ApplyReport, Outcome
from sipctl.commands.common import (
    LazyConnection,
    Options,
    common_options,
    connection_options,
    handle_errors,
    load,
    scope_options,
)
from sipctl.commands.confirm import confirm
from sipctl.plan import raise_if_unsafe
from sipctl.reconcile import current_plan
from sipctl.render import apply_json, apply_text, plan_json, plan_text, progress
from sipctl.saved_plan import SavedPlan, header


@click.command("apply")
@click.argument(
    "plan_file",
    required=False,
    type=click.Path(dir_okay=False, path_type=Path),
)
@click.option("--auto-approve", is_flag=True, help="Apply without asking (needed without a TTY).")
@click.option(
    "--allow-delete", is_flag=True, help="Delete managed resources no longer in the config."
)
@click.option("--force", is_flag=True, help="Apply even past the update/delete thresholds.")
@click.option("--no-verify", is_flag=True, help="Skip the verification dials.")
@click.option(
    "--parallelism",
    type=click.IntRange(1, 256),
    help="Changes in flight at once (default settings.parallelism, 8).",
)
@scope_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Report format.",
)
@common_options
@connection_options
@handle_errors
def command(
    opts: Options,
    conn: LazyConnection,
    plan_file: Path | None,
    auto_approve: bool,
    allow_delete: bool,
    force: bool,
    no_verify: bool,
    parallelism: int | None,
    targets: tuple[str, ...],
    take: tuple[str, ...],
    fmt: str,
) -> None:
    """Make LiveKit match the config, then dial the test calls of what changed.

    Without PLAN_FILE: plans, prints the plan and asks for confirmation (without a TTY,
    --auto-approve is required). With PLAN_FILE (from `sipctl plan --out`): applies
    exactly that plan, or refuses when the config or LiveKit changed since it was made.
    Exit 0; 1 when a change failed (the report lists every change as applied, failed or
    not attempted); 3 when a verification dial failed; 130 when interrupted (Ctrl-C:
    changes in flight finish, dials hang up; the report says what was applied).
    """
    config = load(opts, freeze=True)
    saved = SavedPlan.for_apply(plan_file, targets, allow_delete, take) if plan_file else None
    connection = conn.get()
    plan, state = asyncio.run(
        current_plan(
            connection,
            config,
            allow_delete=allow_delete,
            targets=targets,
            take_ownership=take,
            digests=fmt == "json",
            saved=saved,
        )
    )
    as_json = fmt == "json"
    plan_doc = plan_json.document(plan, header(connection, str(opts.config))) if as_json else None
    if not as_json:
        click.echo(plan_text.render(plan, color=opts.color), nl=False, color=opts.color)
    if not plan.has_changes:
        if as_json:
            click.echo(
                apply_json.render(ApplyReport([], warnings=plan.config_warnings), plan=plan_doc),
                nl=False,
            )
        return
    raise_if_unsafe(plan, force)
    if saved is None and not auto_approve:
        confirm(plan_text.render(plan, color=opts.color) if as_json else None)
    live = progress.Progress(len(plan.changes), enabled=progress.wanted(not as_json))

    def on_change(event: str, out: Outcome) -> None:
        label = f"{out.change.action} {out.change.name}"
        if event == "start":
            live.started(label)
        else:
            live.finished(label, ok=out.status != "failed")

    try:
        report = asyncio.run(
            apply_plan(
                connection,
                plan,
                state,
                config.test_calls,
                config.settings,
                parallelism=parallelism,
                run_verification=not no_verify,
                on_change=on_change,
            )
        )
    finally:
        live.finish()
    if as_json:
        report.warnings[:0] = plan.config_warnings
        click.echo(apply_json.render(report, plan=plan_doc), nl=False)
    else:
        click.echo("")
        click.echo(apply_text.render(report, color=opts.color), nl=False, color=opts.color)
        if not report.ok:
            click.echo("Run `sipctl plan` to see what remains.")
    sys.exit(report.exit_code)
