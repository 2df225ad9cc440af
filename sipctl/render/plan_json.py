"""A plan as JSON (``format_version`` 1): what ``plan --format json`` prints and
``plan --out FILE`` saves for ``apply FILE``. Keys appear in this order::

    {"format_version": 1,
     "kind": "sipctl-plan",
     "sipctl_version": "0.1.0",
     "livekit_url": "https://example.livekit.cloud",
     "api_key": "APIxxxx",
     "config_dir": "config",
     "options": {"allow_delete": false, "targets": [], "take_ownership": []},
     "owner": "prod",                            # settings.owner (null without one)
     "summary": {"create": 1, "update": 1, "delete": 0, "adopt": 0, "orphaned": 0,
                 "has_changes": true, "text": "Plan: 1 to create, 1 to update, 0 to delete."},
     "changes": [{"action": "update",            # create | update | delete | adopt
                  "kind": "outbound_trunk",      # | inbound_trunk | dispatch_rule
                  "name": "acme-us", "id": "ST_...",
                  "method": "update",            # create | update | replace | delete
                  "fields": [{"path": "address", "before": "a.example",
                              "after": "b.example", "sensitive": false},
                             {"path": "auth.password", "before": "(sensitive value)",
                              "after": "(sensitive value)", "sensitive": true,
                              "before_fingerprint": "s1.q3V...", "after_fingerprint": "s1.q3V..."}],
                  "note": ""}],
     "orphaned": [{"kind": ..., "name": ..., "id": ...}],
     "unmanaged": [{"kind": ..., "name": ..., "id": ...}],
     "other_owners": [{"kind": ..., "name": ..., "id": ..., "owner": "staging"}],
     "unowned": [{"kind": ..., "name": ..., "id": ...}],
     "safety": {"managed": 12, "updates": 1, "deletes": 0, "min_resources": 10,
                "max_update_percent": 30.0, "max_delete_percent": 30.0, "problems": []},
     "warnings": [],
     "checksum": "sha256:...",
     "digests": {"config": {"outbound_trunk/acme-us": "..."},
                 "live": {"outbound_trunk/ST_...": "..."}}}

The first keys (``format_version`` to ``config_dir``) come from the saved-plan module,
which owns the format (``sipctl.saved_plan.header``); this module only serialises.
No secret value is ever written: sensitive fields carry ``(sensitive value)`` and the
fingerprints the ownership marker records (``sipctl.secrets.fingerprint``: salted scrypt,
with the resource's salt): ``before_fingerprint`` what the marker holds (an older sipctl's
16-hex HMAC included; where the server returns the password, its fingerprint),
``after_fingerprint`` what the write will record; null where there is none (a create; no
password). They reveal no more than the live metadata does, and do
not change with the API key. Digests are HMAC-SHA256 keyed with the API secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sipctl.live import LiveResource
from sipctl.plan_result import Change, FieldChange, Plan


def _field(f: FieldChange) -> dict[str, Any]:
    out: dict[str, Any] = {
        "path": f.path,
        "before": f.show(f.old),
        "after": f.show(f.new),
        "sensitive": f.sensitive,
    }
    if f.sensitive:
        out["before_fingerprint"] = f.old_fingerprint
        out["after_fingerprint"] = f.new_fingerprint
    return out


def _change(c: Change) -> dict[str, Any]:
    return {
        "action": c.action,
        "kind": c.kind,
        "name": c.name,
        "id": c.id,
        "method": c.method,
        "renamed_from": c.renamed_from,
        "fields": [_field(f) for f in c.fields],
        "note": c.note,
    }


def _ref(r: LiveResource) -> dict[str, Any]:
    return {"kind": r.kind, "name": r.name, "id": r.id}


def _owned(r: LiveResource) -> dict[str, Any]:
    return {**_ref(r), "owner": r.marker.owner if r.marker is not None else None}


def document(plan: Plan, header: Mapping[str, Any]) -> dict[str, Any]:
    """``header``: the format's first keys, from ``sipctl.saved_plan.header``."""
    s = plan.safety
    return {
        **header,
        "options": {
            "allow_delete": plan.allow_delete,
            "targets": list(plan.targets),
            "take_ownership": list(plan.take_ownership),
        },
        "owner": plan.owner,
        "summary": {
            "create": plan.count("create"),
            "update": plan.count("update"),
            "delete": plan.count("delete"),
            "adopt": plan.count("adopt"),
            "orphaned": len(plan.orphaned),
            "has_changes": plan.has_changes,
            "text": plan.summary(),
        },
        "changes": [_change(c) for c in plan.changes],
        "orphaned": [_ref(r) for r in plan.orphaned],
        "unmanaged": [_ref(r) for r in plan.unmanaged],
        "other_owners": [_owned(r) for r in plan.other_owners],
        "unowned": [_ref(r) for r in plan.unowned],
        "safety": {
            "managed": s.managed,
            "updates": s.updates,
            "deletes": s.deletes,
            "min_resources": s.min_resources,
            "max_update_percent": s.max_update_percent,
            "max_delete_percent": s.max_delete_percent,
            "problems": s.problems(),
        },
        "warnings": [*plan.config_warnings, *plan.warnings],
        "checksum": plan.checksum,
        "digests": plan.digests,
    }


def render(plan: Plan, header: Mapping[str, Any]) -> str:
    return json.dumps(document(plan, header), indent=2, ensure_ascii=False) + "\n"
