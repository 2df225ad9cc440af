"""The checked-in JSON Schema matches the models, and the example config satisfies it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml
from click.testing import CliRunner

from sipctl.cli import cli
from sipctl.config.schema import config_schema, schema_text

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schemas" / "sipctl.schema.json"


def test_checked_in_schema_is_current() -> None:
    assert SCHEMA.read_text() == schema_text(), (
        "schemas/sipctl.schema.json drifted from the models: "
        "run `sipctl schema > schemas/sipctl.schema.json`"
    )


def test_schema_command_prints_it() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output) == config_schema()


def test_example_config_validates_against_schema() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    files = sorted((ROOT / "config").glob("*.yaml"))
    assert files
    for f in files:
        errors = list(validator.iter_errors(yaml.safe_load(f.read_text())))
        assert errors == [], f"{f.name}: {[e.message for e in errors]}"


def test_schema_rejects_a_typo() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    doc = {"outbound_trunks": {"a": {"address": "x", "numbers": ["+1555"], "transport": "tpc"}}}
    assert not validator.is_valid(doc)
