"""JSON Schema of one config file, generated from the models (checked in under schemas/)."""

from __future__ import annotations

import json
from typing import Any

from sipctl.models import ConfigFile

SCHEMA_ID = "https://sipctl.dev/schemas/sipctl.schema.json"


def config_schema() -> dict[str, Any]:
    schema = ConfigFile.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "sipctl config file"
    schema["description"] = (
        "One YAML file of a sipctl config directory. Every *.yaml file in the directory is "
        "merged; a resource's key is its live name in LiveKit."
    )
    # media_encryption is accepted as a deprecated alias of media.encryption.
    for name in ("OutboundTrunk", "InboundTrunk", "DispatchRule"):
        props = schema["$defs"][name]["properties"]
        props["media_encryption"] = {
            "enum": ["disable", "allow", "require"],
            "deprecated": True,
            "description": "Deprecated alias of media.encryption.",
        }
    # Codecs may also be written as "PCMU" or "PCMU/8000".
    codec = schema["$defs"]["Codec"]
    schema["$defs"]["Codec"] = {
        "oneOf": [{"type": "string", "pattern": r"^[^\s/]+(/\d+)?$"}, codec],
        "title": "Codec",
    }
    return schema


def schema_text() -> str:
    return json.dumps(config_schema(), indent=2, sort_keys=True) + "\n"
