"""The saved plan (``plan --out FILE``, ``apply FILE``): its format and its checks.

A saved plan is the JSON plan document (``sipctl.render.plan_json`` serialises it) with
``format_version`` and ``kind`` (owned here), the server and key it was made for, its
options and *digests*: one keyed digest per declared and live resource in scope, so a
stale plan can name what changed. Digests are HMAC-SHA256 keyed with the API secret; a
password enters them only as a fingerprint no cheaper to guess than the marker's
(``_password_digest``). A saved plan is bound to the API key it was made with (``check``
says so plainly when another key applies it), so keyed digests never make it stale.
:class:`SavedPlan` loads a file and checks itself against the plan made now.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sipctl import __version__
from sipctl.canonical import canonical, desired_password
from sipctl.config.model import Config
from sipctl.errors import SipctlError
from sipctl.fields import KINDS, Kind, describe
from sipctl.live import LiveState
from sipctl.livekit.connection import Connection
from sipctl.plan import declared, in_scope
from sipctl.plan_result import Plan
from sipctl.secrets import SALT_BYTES, fingerprint, legacy_fingerprint, salt_for

FORMAT_VERSION = 1
KIND = "sipctl-plan"


class StalePlan(SipctlError):
    """A saved plan no longer matches the config or LiveKit."""


def header(conn: Connection, config_dir: str) -> dict[str, Any]:
    """The keys a plan document starts with, in order (see ``render.plan_json``)."""
    return {
        "format_version": FORMAT_VERSION,
        "kind": KIND,
        "sipctl_version": __version__,
        "livekit_url": conn.url,
        "api_key": conn.api_key,
        "config_dir": config_dir,
    }


# --- digests ---------------------------------------------------------------------------


def _mac(api_secret: str, data: bytes) -> str:
    return hmac.new(api_secret.encode(), data, hashlib.sha256).hexdigest()[:32]


def _password_digest(
    kind: Kind, name: str, password: str, state: LiveState, api_secret: str, shown: bool
) -> str | None:
    """What a config digest records of a declared password (None: no password).

    Where the server returns passwords to every holder of the API key, an HMAC keyed with
    its secret tells them nothing new. Where it hides them, the digest must not let a key
    holder check a guess cheaply: the salted fingerprint the marker records (derived once
    for the diff already), or for a resource without a live one, one salted with a value
    keyed by the API secret (unique per project and name, the same at plan and apply)."""
    if not password:
        return None
    if shown:
        return legacy_fingerprint(password, api_secret)
    live = state.managed[kind].get(name)
    if live is not None:
        recorded = live.marker.auth_fingerprint if live.marker is not None else None
        return fingerprint(password, salt_for(recorded, live.id))
    salt = hmac.new(api_secret.encode(), f"salt/{kind}/{name}".encode(), hashlib.sha256)
    return fingerprint(password, salt.digest()[:SALT_BYTES])


def compute_digests(plan: Plan, config: Config, state: LiveState, api_secret: str) -> None:
    """Record what the plan was made from (``plan.digests``, ``plan.checksum``)."""
    scope = in_scope(plan.targets)
    # a server that returns passwords returns them all (OSS LiveKit); Cloud returns none
    shown = any(r.password for k in KINDS for r in state.all[k])
    cfg: dict[str, str] = {}
    for kind in KINDS:
        for name, model in declared(config, kind).items():
            if not scope(kind, name):
                continue
            pw = desired_password(model)
            data = {
                "c": canonical(kind, model),
                "p": _password_digest(kind, name, pw, state, api_secret, shown),
            }
            text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
            cfg[f"{kind}/{name}"] = _mac(api_secret, text.encode())
    s = config.settings
    relevant = [
        s.prune,
        s.max_update_percent,
        s.max_delete_percent,
        s.safety_min_resources,
        s.owner,
    ]
    cfg["settings"] = _mac(api_secret, json.dumps(relevant).encode())
    live: dict[str, str] = {}
    for kind in KINDS:
        for res in state.all[kind]:
            if not scope(kind, res.name):
                continue
            raw = res.info.SerializeToString(deterministic=True) if res.info is not None else b""
            live[f"{kind}/{res.id}"] = _mac(api_secret, raw)
    plan.digests = {"config": dict(sorted(cfg.items())), "live": dict(sorted(live.items()))}
    plan.checksum = checksum_of(plan.digests)


def checksum_of(digests: Mapping[str, Mapping[str, str]]) -> str:
    text = json.dumps(digests, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def stale_reasons(
    saved: Mapping[str, Mapping[str, str]],
    current: Mapping[str, Mapping[str, str]],
    names: Mapping[str, str] | None = None,
) -> list[str]:
    """What differs between the digests a plan was made from and the current ones.

    ``names`` maps live keys (``kind/ID``) to resource names for the message.
    """
    names = names or {}
    out: list[str] = []
    for scope, what in (("config", "the config"), ("live", "LiveKit")):
        old = saved.get(scope, {})
        new = current.get(scope, {})
        for key in sorted(set(old) | set(new)):
            if old.get(key) == new.get(key):
                continue
            label = _key_label(scope, key, names)
            if key not in old:
                out.append(f"{label} was added to {what}")
            elif key not in new:
                out.append(f"{label} was removed from {what}")
            else:
                out.append(f"{label} changed in {what}")
    return out


def _key_label(scope: str, key: str, names: Mapping[str, str]) -> str:
    if key == "settings":
        return "settings"
    kind, _, rest = key.partition("/")
    if scope == "config":
        # the live ID too, when a live resource has that name
        ids = [k.partition("/")[2] for k, n in names.items() if n == rest and k.startswith(kind)]
        return describe(kind, rest, ids[0] if len(ids) == 1 else None)
    return describe(kind, names.get(key, ""), rest) if key in names else f"{kind} {rest}"


def live_names(state: LiveState) -> dict[str, str]:
    return {f"{r.kind}/{r.id}": r.name for k in KINDS for r in state.all[k]}


# --- the file --------------------------------------------------------------------------


@dataclass(frozen=True)
class SavedPlan:
    """A plan file, checked for its format when loaded."""

    path: Path
    data: dict[str, Any]

    @classmethod
    def for_apply(
        cls, path: Path, targets: Sequence[str], allow_delete: bool, take: Sequence[str] = ()
    ) -> SavedPlan:
        """The plan file ``apply FILE`` runs (its options were fixed when it was made)."""
        if targets or allow_delete or take:
            raise SipctlError(
                "--target, --allow-delete and --take-ownership cannot be combined with a "
                "saved plan: they were fixed when the plan was made"
            )
        return cls.load(path)

    @classmethod
    def load(cls, path: Path) -> SavedPlan:
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
            raise SipctlError(
                f"{path} has no digests: make the plan again with `sipctl plan --out`"
            )
        if not isinstance(data.get("options"), dict):
            raise SipctlError(f"{path} has no options: make the plan again")
        return cls(path, data)

    @property
    def allow_delete(self) -> bool:
        return bool(self.data["options"].get("allow_delete"))

    @property
    def take_ownership(self) -> tuple[str, ...]:
        return tuple(str(t) for t in self.data["options"].get("take_ownership") or [])

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(str(t) for t in self.data["options"].get("targets") or [])

    def check(self, plan: Plan, state: LiveState, conn: Connection) -> None:
        """Refuse a plan made for another server, or from another config or live state."""
        path, saved = self.path, self.data
        url, key = saved.get("livekit_url"), saved.get("api_key")
        if isinstance(url, str):
            url = url.rstrip("/")
        if url and url != conn.url:
            raise StalePlan(
                f"the plan {path} was made for LiveKit at {url}, not {conn.url}: nothing was "
                "changed"
            )
        if key and key != conn.api_key:
            raise StalePlan(
                f"the plan {path} was made with API key {key!r}, not {conn.api_key!r}: "
                "nothing was changed"
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
