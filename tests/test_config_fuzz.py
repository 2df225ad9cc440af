"""No input makes the loader raise anything but ConfigError (hypothesis)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipctl.config import load_config
from sipctl.errors import ConfigError

FIELDS = [
    "address", "transport", "numbers", "auth", "username", "password", "media", "codecs",
    "encryption", "headers", "trunk", "to", "from", "expect", "sip_status", "hold",
    "ringing_timeout", "schedule", "retries", "rule", "direct", "trunks", "metadata",
    "outbound_trunks", "inbound_trunks", "dispatch_rules", "test_calls", "settings",
    "test_call_defaults", "max_calls_per_trunk", "media_encryption",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["${X}", "$${Y}", "${", "+15550100001", "udp", "20s", "* * * * *", "tls"]),
)
keys = st.one_of(st.sampled_from(FIELDS), st.text(max_size=8))
trees: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(keys, kids, max_size=5)),
    max_leaves=30,
)


def _load(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "c.yaml").write_text(text, encoding="utf-8")
        try:
            load_config(tmp, env={"X": "1"})
        except ConfigError as exc:
            for line in exc.lines():
                assert ":" in line


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(FIELDS[-7:]), trees, max_size=4))
def test_random_structures_never_crash(doc: dict[str, Any]) -> None:
    _load(yaml.safe_dump(doc, allow_unicode=True))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"%@`#,? \n\t0+$")), max_size=80))
def test_random_text_never_crashes(text: str) -> None:
    _load(text)


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    lines.append("outbound_trunks: *a11")
    _load("\n".join(lines) + "\n")
