"""A route decision as JSON: exactly the documented keys.

    {"inbound_trunk": "main-in", "dispatch_rule": "sales", "room_name": "sales-room",
     "agents": ["sales-agent"],
     "rejected": [{"kind": "dispatch_rule", "name": "support", "reason": "..."}]}

``inbound_trunk``/``dispatch_rule`` are YAML keys (live names for live resources), null
when none; ``room_name`` is exact for a direct rule, else a pattern (``<caller>``,
``<random>``), null when the call reaches no room.
"""

from __future__ import annotations

import json
from typing import Any

KEYS = ("inbound_trunk", "dispatch_rule", "room_name", "agents", "rejected")


def document(data: dict[str, Any]) -> dict[str, Any]:
    return {k: data[k] for k in KEYS}


def render(data: dict[str, Any]) -> str:
    return json.dumps(document(data), indent=2) + "\n"
