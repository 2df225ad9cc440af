"""Config you can share between environments (#12 item 10): ${VAR} in resource names and
YAML merge keys with overrides, as PyYAML reads them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sipctl.config import load_config
from sipctl.errors import ConfigError
from tests.reconcile_helpers import write_config

SHARED = """
x-base: &base
  address: sip.example.com
  numbers: ["+15550900001"]
  headers: {X-Env: base}
outbound_trunks:
  ${ENV}-acme:
    <<: *base
    address: other.example.com
  ${ENV}-plain:
    <<: *base
"""


def test_variables_in_names_and_merge_keys_with_overrides(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c", SHARED)
    config = load_config(cfg, env={"ENV": "prod"})
    assert sorted(config.outbound_trunks) == ["prod-acme", "prod-plain"]
    acme = config.outbound_trunks["prod-acme"]
    assert acme.address == "other.example.com" and acme.headers == {"X-Env": "base"}
    assert config.outbound_trunks["prod-plain"].address == "sip.example.com"
    # as PyYAML reads the same text (the override wins)
    data = yaml.safe_load((cfg / "sip.yaml").read_text())
    assert data["outbound_trunks"]["${ENV}-acme"]["address"] == "other.example.com"


def test_an_unset_variable_in_a_name_is_an_error(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c", SHARED)
    with pytest.raises(ConfigError) as err:
        load_config(cfg, env={})
    assert any("ENV is not set" in p.message for p in err.value.problems)


def test_duplicate_own_keys_are_still_reported(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path / "c",
        """
        outbound_trunks:
          a:
            address: one.example.com
            address: two.example.com
            numbers: ["+15550900002"]
        """,
    )
    with pytest.raises(ConfigError) as err:
        load_config(cfg, env={})
    assert any("duplicate key 'address'" in p.message for p in err.value.problems)
