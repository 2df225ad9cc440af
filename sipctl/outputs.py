"""``sipctl output``: the IDs of this owner's managed resources, for the apps that dial.

Voice agents dial by ``sip_trunk_id``; a deployment reads the IDs from here instead of
hard-coding them. ``env``: ``NAME=ID`` lines, NAME being ``SIPCTL_OUTBOUND_TRUNK_``,
``SIPCTL_INBOUND_TRUNK_`` or ``SIPCTL_DISPATCH_RULE_`` and the key upper-cased with each
run of other characters replaced by ``_``; ``json``/``yaml``: section -> name -> ID.
"""

from __future__ import annotations

import json
import re

import yaml

from sipctl.errors import SipctlError
from sipctl.fields import KINDS, SECTION_OF
from sipctl.live import LiveState

_OTHER = re.compile(r"[^A-Z0-9]+")


def env_name(kind: str, key: str) -> str:
    return f"SIPCTL_{kind.upper()}_" + _OTHER.sub("_", key.upper())


def ids_by_section(state: LiveState) -> dict[str, dict[str, str]]:
    return {
        SECTION_OF[kind]: {name: r.id for name, r in sorted(state.managed[kind].items())}
        for kind in KINDS
    }


def render(state: LiveState, fmt: str) -> str:
    sections = ids_by_section(state)
    if fmt == "json":
        return json.dumps(sections, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump(sections, sort_keys=False, allow_unicode=True)
    names: dict[str, tuple[str, str]] = {}
    for kind in KINDS:
        for key, rid in sections[SECTION_OF[kind]].items():
            name = env_name(kind, key)
            if name in names:
                other = names[name][0]
                raise SipctlError(
                    f"{SECTION_OF[kind]} {other!r} and {key!r} both give the variable {name}: "
                    "rename one of them"
                )
            names[name] = (key, rid)
    return "".join(f"{name}={rid}\n" for name, (_, rid) in sorted(names.items()))
