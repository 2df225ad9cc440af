"""Routing warnings for ``validate`` and ``plan`` (``sipctl.route_lint``)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from sipctl.config import load_config
from sipctl.route_lint import warnings


def lint(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "sip.yaml").write_text(textwrap.dedent(text))
    return [str(w).replace(f"{tmp_path}/", "") for w in warnings(load_config(tmp_path))]


def test_a_clean_config_has_no_warnings(tmp_path: Path) -> None:
    assert not lint(
        tmp_path,
        """\
        inbound_trunks:
          main: {numbers: ["+15550700001", "+15550700002"]}
        dispatch_rules:
          sales: {trunks: [main], numbers: ["+15550700001"], rule: {direct: {room_name: s}}}
          rest: {trunks: [main], rule: {individual: {room_prefix: r}}}
        """,
    )


def test_a_number_that_reaches_no_rule(tmp_path: Path) -> None:
    found = lint(
        tmp_path,
        """\
        inbound_trunks:
          main: {numbers: ["+15550700001", "+15550700002"]}
          other: {numbers: ["+15550700003"]}
        dispatch_rules:
          sales: {trunks: [main], numbers: ["15550700001"], rule: {direct: {room_name: s}}}
          o: {trunks: [other], rule: {direct: {room_name: o}}}
        """,
    )
    assert len(found) == 2, found
    assert found[0].startswith("sip.yaml:2:1: warning: inbound_trunks.main.numbers[0]: ")
    assert "a call to +15550700001 reaches no dispatch rule" in found[0]
    assert "dispatch rule sales lists it in another form" in found[0]
    assert "inbound_trunks.main.numbers[1]: a call to +15550700002 reaches no" in found[1]
    # sales itself may match: main also takes calls to 15550700001 (trunks normalise)


def test_a_rule_whose_numbers_its_trunks_never_receive(tmp_path: Path) -> None:
    found = lint(
        tmp_path,
        """\
        inbound_trunks:
          main: {numbers: ["+15550700001"]}
        dispatch_rules:
          all: {trunks: [main], rule: {direct: {room_name: a}}}
          typo: {trunks: [main], numbers: ["+15550700009"], rule: {direct: {room_name: t}}}
        """,
    )
    assert found == [
        "sip.yaml:5:1: warning: dispatch_rules.typo.numbers: can never match: none of its "
        "numbers is a number of its trunks (main)"
    ]


def test_a_catch_all_rule_shadowed_by_trunk_specific_ones(tmp_path: Path) -> None:
    found = lint(
        tmp_path,
        """\
        inbound_trunks:
          main: {numbers: ["+15550700001"]}
          guarded: {numbers: ["+15550700002"], allowed_addresses: ["10.0.0.0/8"]}
        dispatch_rules:
          first: {trunks: [main], rule: {direct: {room_name: a}}}
          g: {trunks: [guarded], rule: {direct: {room_name: g}}}
          catch: {rule: {direct: {room_name: c}}, numbers: ["+15550700001"]}
          backup: {rule: {direct: {room_name: b}}, numbers: ["+15550700002"]}
          any: {rule: {individual: {room_prefix: x}}}
          pinned: {rule: {callee: {pin: "12"}}, numbers: ["+15550700001"]}
        """,
    )
    # catch: every call to +15550700001 arrives on main, where first wins. backup: a call
    # from outside 10/8 matches no trunk and reaches it. any: numbers no trunk lists reach
    # it. pinned: the PIN prompt may select it.
    assert found == [
        "sip.yaml:7:1: warning: dispatch_rules.catch: can never match: a call to "
        "+15550700001 arrives on trunk main, where dispatch rule first takes it (a rule "
        "naming the call's trunk comes before a rule for any trunk)"
    ]


def test_a_narrower_rule_is_not_shadowed_by_a_broader_one(tmp_path: Path) -> None:
    assert not lint(
        tmp_path,
        """\
        inbound_trunks:
          main: {numbers: ["+15550700001", "+15550700002"]}
        dispatch_rules:
          broad: {trunks: [main], rule: {direct: {room_name: a}}}
          vip: {trunks: [main], inbound_numbers: ["+15551112222"], rule: {direct: {room_name: v}}}
          line2: {trunks: [main], numbers: ["+15550700002"], rule: {callee: {}}}
        """,
    )


def test_conflicts_livekit_refuses(tmp_path: Path) -> None:
    found = lint(
        tmp_path,
        """\
        inbound_trunks:
          a: {numbers: ["+15550700001"]}
          b: {numbers: ["15550700001"]}
          c: {numbers: ["+15550700001"], allowed_numbers: ["+15551112222"]}
        dispatch_rules:
          x: {rule: {direct: {room_name: x}}}
          y: {rule: {direct: {room_name: y}}}
        """,
    )
    assert len(found) == 2, found
    assert "inbound_trunks.b.numbers: shares +15550700001 with inbound trunk a" in found[0]
    assert "dispatch_rules.y: conflicts with x" in found[1]


SHADOWED = """\
inbound_trunks:
  main: {numbers: ["+15550700001", "+15550700002"]}
dispatch_rules:
  first: {trunks: [main], numbers: ["+15550700001"], rule: {direct: {room_name: a}}}
  catch: {rule: {direct: {room_name: c}}, numbers: ["+15550700001"]}
"""


def test_validate_prints_the_warnings_and_passes(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sipctl.cli import cli

    (tmp_path / "sip.yaml").write_text(SHADOWED)
    result = CliRunner().invoke(cli, ["validate", "--config", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 2, lines
    assert "inbound_trunks.main.numbers[1]: a call to +15550700002 reaches no" in lines[0]
    assert "dispatch_rules.catch: can never match" in lines[1]
    assert result.stdout.startswith("Configuration valid:")


def test_plan_prints_the_warnings(tmp_path: Path, sandbox: Any) -> None:
    from tests.reconcile_helpers import sipctl

    (tmp_path / "sip.yaml").write_text(SHADOWED)
    result = sipctl(sandbox, tmp_path, "plan")
    assert result.exit_code == 0, result.output
    assert "dispatch_rules.catch: can never match" in result.stderr
    assert "Plan: 3 to create" in result.stdout


def test_linear_on_a_large_config(tmp_path: Path) -> None:
    """5,000 trunks each with its rule: checked without pairing every trunk with every rule
    (the bench's sizes; a quadratic check would take minutes here)."""
    lines = ["inbound_trunks:"]
    lines += [f'  t{i}: {{numbers: ["+1555{i:07d}"]}}' for i in range(5000)]
    lines.append("dispatch_rules:")
    lines += [
        f"  r{i}: {{trunks: [t{i}], rule: {{direct: {{room_name: r{i}}}}}}}" for i in range(5000)
    ]
    (tmp_path / "sip.yaml").write_text("\n".join(lines) + "\n")
    assert warnings(load_config(tmp_path)) == []


def test_an_arrive_call_route_predicts_elsewhere(tmp_path: Path) -> None:
    found = lint(
        tmp_path,
        """\
        outbound_trunks:
          lab: {address: 127.0.0.1, numbers: ["+15557770000"]}
        inbound_trunks:
          main: {numbers: ["+15550700001"]}
        dispatch_rules:
          sales: {trunks: [main], rule: {direct: {room_name: s}}}
        test_calls:
          right:
            {trunk: lab, to: "+15550700001", arrive: {inbound_trunk: main, dispatch_rule: sales}}
          wrong:
            {trunk: lab, to: "+15550700009", arrive: {inbound_trunk: main, dispatch_rule: sales}}
        """,
    )
    assert found == [
        "sip.yaml:10:1: warning: test_calls.wrong.arrive: sipctl route predicts another outcome "
        "for a call to +15550700009 from +15557770000: no dispatch rule matches: LiveKit drops "
        "the call without a final answer"
    ]
