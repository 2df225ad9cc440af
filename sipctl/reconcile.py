"""The orchestration ``plan`` and ``apply`` share: read LiveKit, then plan.

(octoDNS keeps the same in its manager: commands stay thin, the pieces stay pure.)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sipctl.canonical import desired_password
from sipctl.config.model import Config
from sipctl.fields import KINDS
from sipctl.live import LiveState
from sipctl.livekit.client import connect
from sipctl.livekit.connection import Connection
from sipctl.livekit.state import read_state
from sipctl.logs import register_secret
from sipctl.plan import make_plan
from sipctl.plan_result import Plan
from sipctl.saved_plan import SavedPlan, compute_digests

log = logging.getLogger(__name__)


async def read_live(conn: Connection, owner: str | None = None) -> LiveState:
    async with connect(conn) as api:
        return await read_state(api, conn, owner)


async def current_plan(
    conn: Connection,
    config: Config,
    *,
    allow_delete: bool = False,
    targets: Sequence[str] = (),
    take_ownership: Sequence[str] = (),
    digests: bool = False,
    saved: SavedPlan | None = None,
) -> tuple[Plan, LiveState]:
    """Read LiveKit and plan; ``digests`` records what the plan was made from. With a
    ``saved`` plan, its options apply and it must still match (else StalePlan)."""
    if saved is not None:
        allow_delete, targets, digests = saved.allow_delete, saved.targets, True
        take_ownership = saved.take_ownership
    state = await read_live(conn, config.settings.owner)
    _redact_passwords(config, state)
    plan = make_plan(
        config,
        state,
        api_secret=conn.api_secret,
        allow_delete=allow_delete,
        targets=targets,
        take_ownership=take_ownership,
    )
    plan.config_warnings = [str(w) for w in config.warnings]
    if digests:
        compute_digests(plan, config, state, conn.api_secret)
    if saved is not None:
        saved.check(plan, state, conn)
    log.debug(
        "plan: %s (%d unmanaged, %d orphaned)",
        plan.summary(),
        len(plan.unmanaged),
        len(plan.orphaned),
    )
    return plan, state


def _redact_passwords(config: Config, state: LiveState) -> None:
    """Every password sipctl holds is redacted from logs, whatever library logs it."""
    for section in (config.outbound_trunks, config.inbound_trunks):
        for model in section.values():
            register_secret(desired_password(model))
    for kind in KINDS:
        for res in state.all[kind]:
            register_secret(res.password)
