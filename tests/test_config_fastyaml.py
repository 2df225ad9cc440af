"""The fast YAML reader (sipctl/config/fastyaml.py) against the located reader: whenever the
fast one answers, its data is exactly the located reader's (same values, same types) and
the located reader has nothing to report; positions still come out right, lazily, in a
10,000-trunk config."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipctl.config import fastyaml, load_config
from sipctl.config.yamlsource import MAX_DEPTH, _load_located, load_yaml
from sipctl.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def same(a: Any, b: Any) -> bool:
    """Equal values of the same types, all the way down (1 == True == 1.0 is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def check(text: str) -> bool:
    """The property; returns whether the fast reader answered."""
    fast = fastyaml.parse(text)
    located, problems = _load_located(Path("f.yaml"), "f.yaml", text)
    if fast is None:
        return False
    assert located is not None and problems == [], (text, problems)
    assert same(fast, located.data), (text, fast, located.data)
    return True


# fmt: off
EDGES = [
    # scalars PyYAML (YAML 1.1) types that YAML 1.2 / JSON read otherwise, plain and quoted
    *(
        f"k: {v}\n"
        for v in [
            "yes",
            "No",
            "ON",
            "off",
            "True",
            "FALSE",
            "true",
            "false",
            "y",
            "n",
            "~",
            "null",
            "Null",
            "NULL",
            "",
            "0",
            "-0",
            "+0",
            "12",
            "-12",
            "+12",
            "007",
            "0o17",
            "0x1F",
            "0b101",
            "1_000",
            "1:20",
            "190:20:30",
            "1.5",
            "-1.",
            ".5",
            "1e3",
            "1.5e3",
            "1.5e+3",
            ".inf",
            "-.Inf",
            ".NaN",
            "2001-12-14",
            "2001-12-14 21:59:43.10 -5",
            "=",
            "+15105550100",
            "+1 (510) 555-0100",
            "5s",
            "1m30s",
            "${X}",
            "$${X}",
            "'yes'",
            "'+12'",
            '"0x1F"',
            "'007'",
            "''",
            '""',
            "'2001-12-14'",
            "'1.5'",
            '"\\u00e9\\t\\" \\\\ /"',
            "'it''s'",
            "sip:a@b.c;transport=tcp",
            "a # comment",
            "'a # not a comment'",
            "[1, '2', x, yes]",
            "{a: 1, b: '2'}",
            "[]",
            "{}",
            "|\n  line one\n  line two\n",
            ">\n  folded\n  text\n",
            "|-\n  kept\n",
            "plain\n  continued",
            "'multi\n  line'",
            "😀 ünïcode",
            "-",
            "[a, [b, [c]]]",
        ]
    ),
    # keys
    *(
        f"{k}: v\n"
        for k in [
            "100",
            "-5",
            "+1",
            "007",
            "yes",
            "true",
            "null",
            "~",
            "1.5",
            "'100'",
            "'+1'",
            "'yes'",
            '""',
            "''",
            "2001-12-14",
            "a b",
            "'a: b'",
            "[a]",
        ]
    ),
    # structure and features the fast reader leaves alone
    "a: 1\na: 2\n",
    "a: {b: 1, b: 2}\n",
    "a:\n  b: [1, 2]\n  b: {c: 3}\nd: [x, {e: 1, e: 1}]\n",  # nested, same value again
    "a: &x 1\nb: *x\n",
    "base: &b {x: 1}\nc:\n  <<: *b\n  y: 2\n",
    "a: !!str 12\n",
    "%YAML 1.1\n---\na: 1\n",
    "---\na: 1\n---\nb: 2\n",
    "a: 1\n...\n",
    "? [a, b]\n: c\n",
    "a:\tb\n",
    "\ufeffa: 1\n",
    "- a\n- b\n",
    "just text\n",
    "a: [1, 2\n",
    "a: b: c\n",
    "a:\n  - b\n  -\n  - c\n",
    "outbound_trunks:\n  acme:\n    address: sip.acme.example\n    numbers: ['+15550100001']\n",
    "x: " + "[" * 70 + "]" * 70 + "\n",
]
# fmt: on


@pytest.mark.parametrize("text", EDGES)
def test_fast_reader_matches_the_located_reader(text: str) -> None:
    check(text)


def test_typed_plain_patterns_are_pyyamls() -> None:
    """fastyaml writes out PyYAML's implicit resolvers; they must stay the same."""
    import yaml

    seen: dict[str, str] = {}
    firsts: set[str] = set()
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items():
        for tag, rx in resolvers:
            if tag != "tag:yaml.org,2002:str":
                seen.setdefault(tag, rx.pattern)
                firsts.add(first)
    theirs = [re.sub(r"\s+", "", p.strip()[1:-1]) for p in seen.values()]
    ours = [re.sub(r"\s+", "", p) for p in re.split(r"\n  \| ", fastyaml._R.strip())]
    assert sorted(ours) == sorted(theirs)
    assert set(re.sub(r"\\(.)", r"\1", fastyaml._FIRST)) == firsts - {""}


def test_fast_reader_answers_for_ordinary_configs() -> None:
    for path in sorted((ROOT / "config").glob("*.y*ml")):
        check(path.read_text())  # comments with "*" or "!" send a file to the located reader
    text = "outbound_trunks:\n" + "".join(
        f"  trunk-{i:05d}:\n    address: sip{i % 50}.example.com\n    transport: udp\n"
        f'    numbers: ["+1555{i:07d}"]\n'
        '    auth: {username: user, password: "${BENCH_PASSWORD}"}\n'
        for i in range(200)
    )
    assert check(text + "settings:\n  max_update_percent: 100\n")


def test_fast_reader_refuses_what_the_located_reader_would_report() -> None:
    deep = "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, MAX_DEPTH + 2)) + "  x\n"
    assert fastyaml.parse(deep) is None
    assert fastyaml.parse("a: 1\na: 2\n") is None
    assert fastyaml.parse("a:\n  b: [1]\n  b: [1]\n") is None  # nested, equal values
    assert fastyaml.parse("true: x\n") is None


# fmt: off
# Tokens that mean different things to YAML 1.1, YAML 1.2 and JSON, in every quoting; and,
# less often, characters with a syntactic meaning.
_ATOMS = [
    "yes", "No", "on", "OFF", "true", "False", "null", "~", "0", "-0", "+0", "12", "+12",
    "-7", "007", "0x1F", "1_0", "1:20", "1.5", ".5", "1e3", "1.5e+3", ".inf", ".nan",
    "2001-12-14", "+15550100001", "abc", "a b", "sip.example.com", "${V}", "=", "é", "a:b",
    "a #b", "x-y", "",
]
_ODD = ["<<", "-", "[", "]", "{", "}", ",", "?", "%", "@", "`", "|", ">", "&a", "*a", "!t", ":"]


def _scalar() -> st.SearchStrategy[str]:
    atom = st.one_of(*[st.sampled_from(_ATOMS)] * 15, st.sampled_from(_ODD))
    return st.one_of(
        atom,
        atom,
        atom.map(lambda a: "'" + a.replace("'", "''") + "'"),
        atom.map(lambda a: '"' + a.replace("\\", "\\\\").replace('"', '\\"') + '"'),
        st.tuples(atom, atom).map(lambda t: t[0] + t[1]),
    )


def _node(depth: int) -> st.SearchStrategy[str]:
    """A block node's text at indentation ``depth`` (a scalar, a flow list or a mapping)."""
    flow = st.lists(_scalar(), max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]")
    if depth >= 3:
        return st.one_of(_scalar(), flow).map(lambda v: " " + v)
    pad = "  " * (depth + 1)
    mapping = st.lists(st.tuples(_scalar(), st.deferred(lambda: _node(depth + 1))), max_size=3)
    block = mapping.map(lambda items: "".join(f"\n{pad}{k}:{v}" for k, v in items))
    return st.one_of(_scalar().map(lambda v: " " + v), flow.map(lambda v: " " + v), block)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_scalar(), _node(0)), min_size=1, max_size=4))
def test_fast_reader_matches_on_generated_yaml(items: list[tuple[str, str]]) -> None:
    check("".join(f"{k}:{v}\n" for k, v in items))


# --- positions in a large config, with the fast reader ------------------------------


def _big_config(directory: Path, n: int, bad: int, transport: str) -> tuple[Path, int]:
    lines = ["outbound_trunks:"]
    bad_line = 0
    for i in range(n):
        lines += [
            f"  trunk-{i:05d}:",
            f"    address: sip{i % 50}.example.com",
            f"    transport: {transport if i == bad else 'udp'}",
            f'    numbers: ["+1555{i:07d}"]',
            '    auth: {username: user, password: "${BENCH_PASSWORD}"}',
        ]
        if i == bad:
            bad_line = len(lines) - 2
    directory.mkdir()
    (directory / "trunks.yaml").write_text("\n".join(lines) + "\n")
    return directory, bad_line


def test_an_error_in_a_10000_trunk_config_names_file_line_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg, line = _big_config(tmp_path / "config", 10_000, 7_777, "carrier-pigeon")
    text = (cfg / "trunks.yaml").read_text()
    doc, problems = load_yaml(cfg / "trunks.yaml", "config/trunks.yaml", text)
    assert problems == [] and type(doc).__name__ == "_LazyLocated"  # the fast reader read it
    with pytest.raises(ConfigError) as err:
        load_config("config", env={"BENCH_PASSWORD": "pw"})
    (first, *_) = err.value.lines()
    assert re.match(
        rf"config/trunks\.yaml:{line}:5: outbound_trunks\.trunk-07777\.transport: ", first
    ), first
    # an unset variable is located too
    with pytest.raises(ConfigError) as err:
        load_config("config", env={})
    assert err.value.lines()[0].startswith(
        "config/trunks.yaml:6:28: outbound_trunks.trunk-00000.auth.password: "
        "environment variable BENCH_PASSWORD is not set"
    ), err.value.lines()[0]


def test_a_valid_config_read_fast_computes_no_positions_until_asked(tmp_path: Path) -> None:
    cfg, _ = _big_config(tmp_path / "config", 50, -1, "udp")
    config = load_config(cfg, env={"BENCH_PASSWORD": "pw"})
    assert len(config.outbound_trunks) == 50
    doc = config.declared_at._docs[("outbound_trunks", "trunk-00000")]
    assert "keys" not in vars(doc)  # nothing has needed a position yet
    assert config.declared_at[("outbound_trunks", "trunk-00042")].endswith("trunks.yaml:212")
    assert "keys" in vars(doc)


def test_text_after_dedent() -> None:
    # the example in the module docstring of the loader stays readable through the fast path
    text = textwrap.dedent(
        """
        outbound_trunks:
          acme:
            address: sip.acme.example
            numbers: ["+15550100001"]
        """
    )
    assert check(text)
