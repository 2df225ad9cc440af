"""The README's config reference names every config field, so it cannot drift silently."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from sipctl.models import (
    Auth,
    DispatchRule,
    InboundAuth,
    InboundTrunk,
    Media,
    OutboundTrunk,
    RuleCallee,
    RuleDirect,
    RuleIndividual,
    Settings,
    TestCall,
    TestCallDefaults,
)

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
REFERENCE = README.split("## Config reference", 1)[1].split("\n## ", 1)[0]


def _names(model: type[BaseModel]) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()}


def test_every_field_is_documented() -> None:
    prose = re.sub(r"```.*?```", "", REFERENCE, flags=re.S)
    spans = re.findall(r"`([^`]+)`", prose)
    mentioned = {word for span in spans for word in re.findall(r"[a-z_]+", span)}
    models: list[type[BaseModel]] = [
        OutboundTrunk, InboundTrunk, DispatchRule, TestCall, Settings, TestCallDefaults,
        Auth, InboundAuth, Media, RuleDirect, RuleIndividual, RuleCallee,
    ]  # fmt: skip
    missing = {f"{m.__name__}.{n}" for m in models for n in _names(m) if n not in mentioned}
    assert not missing, f"README config reference lacks: {sorted(missing)}"


def test_readme_has_the_two_quick_start_commands() -> None:
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "./dev demo" in quick and "./dev test" in quick
