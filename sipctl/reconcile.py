"""The orchestration ``plan`` and ``apply`` share: read LiveKit, plan, check a saved plan.

(octoDNS keeps the same in its manager: commands stay thin, the pieces stay pure.)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sipctl.errors import SipctlError
from sipctl.plan import Plan, StalePlan, compute_digests, live_names, make_plan, stale_reasons

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from sipctl.commands.common import Connection
    from sipctl.config.loader import Config
    from sipctl.livekit.resource import LiveState


async def read_live(conn: Connection) -> LiveState:
    from sipctl.livekit.client import connect
    from sipctl.livekit.state import read_state

    async with connect(conn) as api:
        return await read_state(api, conn)


async def current_plan(
    conn: Connection,
    config: Config,
    *,
    allow_delete: bool = False,
    targets: Sequence[str] = (),
    digests: bool = False,
) -> tuple[Plan, LiveState]:
    """Read LiveKit and plan; ``digests`` records what the plan was made from."""
    state = await read_live(conn)
    _redact_passwords(config, state)
    plan = make_plan(
        config, state, api_secret=conn.api_secret, allow_delete=allow_delete, targets=targets
    )
    if digests:
        compute_digests(plan, config, state, conn.api_secret)
    log.debug(
        "plan: %s (%d unmanaged, %d orphaned)",
        plan.summary(),
        len(plan.unmanaged),
        len(plan.orphaned),
    )
    return plan, state


def _redact_passwords(config: Config, state: LiveState) -> None:
    """Every password sipctl holds is redacted from logs, whatever library logs it."""
    from sipctl.livekit.resource import KINDS
    from sipctl.logs import register_secret
    from sipctl.plan import desired_password

    for section in (config.outbound_trunks, config.inbound_trunks):
        for model in section.values():
            register_secret(desired_password(model))
    for kind in KINDS:
        for res in state.all[kind]:
            register_secret(res.password)


def load_saved(path: Path) -> dict[str, Any]:
    """A saved plan file, checked for its format."""
    from sipctl.render.plan_json import FORMAT_VERSION, KIND

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SipctlError(f"cannot read the plan file {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise SipctlError(f"{path} is not a saved sipctl plan (invalid JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise SipctlError(f"{path} is not a saved sipctl plan (made by `sipctl plan --out`)")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise SipctlError(
            f"{path} has plan format_version {version!r}; this sipctl reads version "
            f"{FORMAT_VERSION}: make the plan again with this sipctl"
        )
    digests = data.get("digests")
    if not isinstance(digests, dict) or not all(
        isinstance(digests.get(k), dict) for k in ("config", "live")
    ):
        raise SipctlError(f"{path} has no digests: make the plan again with `sipctl plan --out`")
    options = data.get("options")
    if not isinstance(options, dict):
        raise SipctlError(f"{path} has no options: make the plan again")
    return data


def saved_options(saved: dict[str, Any]) -> tuple[bool, tuple[str, ...]]:
    options = saved["options"]
    targets = options.get("targets") or []
    return bool(options.get("allow_delete")), tuple(str(t) for t in targets)


def check_saved(
    saved: dict[str, Any], path: Path, plan: Plan, state: LiveState, conn: Connection
) -> None:
    """Refuse a saved plan made for another server, or from another config or live state."""
    url, key = saved.get("livekit_url"), saved.get("api_key")
    if url and url != conn.url:
        raise StalePlan(
            f"the plan {path} was made for LiveKit at {url}, not {conn.url}: nothing was changed"
        )
    if key and key != conn.api_key:
        raise StalePlan(
            f"the plan {path} was made with API key {key!r}, not {conn.api_key!r}: nothing "
            "was changed"
        )
    assert plan.digests is not None
    reasons = stale_reasons(saved["digests"], plan.digests, live_names(state))
    if not reasons:
        saved_changes = [
            (c.get("action"), c.get("kind"), c.get("name")) for c in saved.get("changes", [])
        ]
        now = [(c.action, c.kind, c.name) for c in plan.changes]
        if saved_changes != now:
            reasons = ["the changes it lists are not what the config and LiveKit give now"]
    if reasons:
        shown = reasons[:10]
        more = f"; and {len(reasons) - 10} more" if len(reasons) > 10 else ""
        raise StalePlan(
            f"the plan {path} is stale: {'; '.join(shown)}{more}. Nothing was changed; run "
            "`sipctl plan --out` again"
        )
