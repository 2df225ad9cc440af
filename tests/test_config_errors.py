"""Bad config input: every problem is reported with file, line, column and field, never as a
traceback (the YAML reader's edge cases and the loader's messages for nested fields)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sipctl.config import load_config
from sipctl.errors import ConfigError

TRUNK = """\
outbound_trunks:
  t:
    address: sip.example.com
    numbers: ["+15105550123"]
"""


def problems(tmp: Path, text: str | bytes) -> list[str]:
    f = tmp / "c.yaml"
    if isinstance(text, bytes):
        f.write_bytes(text)
    else:
        f.write_text(textwrap.dedent(text))
    with pytest.raises(ConfigError) as info:
        load_config(tmp, env={"PW": "x"})
    return [str(p).replace(str(tmp) + "/", "") for p in info.value.problems]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # PyYAML's constructors raise plain ValueErrors for these: once a traceback.
        ("outbound_trunks:\n  2001-13-45: {}\n", "c.yaml:2:3: outbound_trunks: cannot read key:"),
        (
            "outbound_trunks:\n  t: !!int abc\n",
            "c.yaml:2:6: outbound_trunks.t: cannot read value: invalid literal for int()",
        ),
    ],
    ids=["bad-date-key", "int-tag"],
)
def test_unconvertible_scalars_are_problems_not_tracebacks(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert any(p.startswith(expected) for p in problems(tmp_path, text))


def test_did_you_mean_reaches_nested_fields(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        TRUNK
        + "    auth:\n      usrname: a\n      password: ${PW}\n"
        + "dispatch_rules:\n  r:\n    rule: {individual: {roomprefix: call-}}\n",
    )
    assert found == [
        "c.yaml:6:7: outbound_trunks.t.auth.usrname: unknown field (did you mean 'username'?)",
        "c.yaml:10:25: dispatch_rules.r.rule.individual.roomprefix: unknown field"
        " (did you mean 'room_prefix'?)",
    ]


def test_a_key_must_be_a_plain_string(tmp_path: Path) -> None:
    assert problems(tmp_path, "outbound_trunks:\n  ? [a, b]\n  : 1\n") == [
        "c.yaml:2:5: outbound_trunks: a key must be a plain string, not a list or mapping"
    ]


def test_a_merge_of_a_list_is_refused_where_it_stands(tmp_path: Path) -> None:
    found = problems(tmp_path, "x: &x [1]\noutbound_trunks:\n  t:\n    <<: *x\n")
    assert "c.yaml:1:1: x: unknown top-level key" in found
    assert any(p.startswith("c.yaml:4:5: outbound_trunks.t: bad merge key:") for p in found)


def test_nesting_is_bounded(tmp_path: Path) -> None:
    text = "outbound_trunks:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(70))
    found = problems(tmp_path, text + "  " * 71 + "x: 1\n")
    assert any(p.endswith(": nested deeper than 64 levels") for p in found)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\n---\nb: 2\n", ["c.yaml:3:1: holds more than one YAML document"]),
        (
            "- 1\n- 2\n",
            ["c.yaml:1:1: must be a mapping with keys such as outbound_trunks (got a list)"],
        ),
        (b"outbound_trunks: \xff\xfe\n", None),  # not UTF-8
    ],
    ids=["two-documents", "a-list", "not-utf8"],
)
def test_whole_file_problems(tmp_path: Path, text: str | bytes, expected: list[str] | None) -> None:
    found = problems(tmp_path, text)
    if expected is None:
        assert len(found) == 1 and found[0].startswith("c.yaml:1:1: cannot read file:")
    else:
        assert found == expected


def test_a_bad_variable_reference_names_the_field(tmp_path: Path) -> None:
    found = problems(tmp_path, TRUNK.replace("sip.example.com", "${bad-name}"))
    assert "c.yaml:3:5: outbound_trunks.t.address: bad variable reference ${bad-name}" in found


def test_a_number_as_password_is_a_literal_secret_and_never_shown(tmp_path: Path) -> None:
    found = problems(tmp_path, TRUNK + "    auth: {username: a, password: 918273}\n")
    assert len(found) == 1
    assert found[0].startswith("c.yaml:5:25: outbound_trunks.t.auth.password: is a literal secret")
    assert "918273" not in found[0]


def test_settings_report_every_unknown_key(tmp_path: Path) -> None:
    assert problems(tmp_path, "settings:\n  paralelism: 4\n  nosuch: 1\n") == [
        "c.yaml:2:3: settings.paralelism: unknown field (did you mean 'parallelism'?)",
        "c.yaml:3:3: settings.nosuch: unknown field",
    ]


def test_missing_directory_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as missing:
        load_config(tmp_path / "nosuch", env={})
    assert [p.message for p in missing.value.problems] == ["config directory not found"]
    with pytest.raises(ConfigError) as empty:
        load_config(tmp_path, env={})
    assert [p.message for p in empty.value.problems] == [
        "no *.yaml or *.yml files in the config directory"
    ]
