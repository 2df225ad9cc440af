"""What LiveKit accepts but is probably a mistake: a warning naming file:line, resource and
field with the reason, never an error (issue #12 item 9). What LiveKit refuses stays an
error (the other half of each rule is in test_config_rules.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sipctl.cli import cli
from sipctl.config import Config, load_config

OUT = "outbound_trunks:\n  t:\n    address: sip.example.com\n"
IN = "inbound_trunks:\n  i:\n"
# a rule for every call: no routing warning on the trunk's numbers
ANY = "dispatch_rules:\n  any: {rule: {individual: {}}}\n"


def load(tmp: Path, text: str, env: dict[str, str] | None = None) -> Config:
    (tmp / "c.yaml").write_text(text)
    return load_config(tmp, env=env or {})


def only_warning(config: Config) -> tuple[int, tuple[str | int, ...], str]:
    [w] = config.warnings
    assert w.severity == "warning"
    return w.line, w.path, w.message


CASES = {
    # (YAML, line, path, words the reason must contain)
    "formatted-caller-id": (
        OUT + '    numbers: ["+1 (510) 555-0100"]\n',
        4,
        ("outbound_trunks", "t", "numbers", 0),
        ["'+1 (510) 555-0100'", "as written", "write '+15105550100'"],
    ),
    "sip-user-caller-id": (
        OUT + "    numbers: [alice]\n",
        4,
        ("outbound_trunks", "t", "numbers", 0),
        ["'alice' is a SIP user", "From: sip:alice@", "phone network provider"],
    ),
    "lower-case-country": (
        OUT + '    numbers: ["+15105550100"]\n    destination_country: us\n',
        5,
        ("outbound_trunks", "t", "destination_country"),
        ["'us' is not an ISO 3166-1 alpha-2", "upper-case", "write 'US'"],
    ),
    "unknown-country": (
        OUT + '    numbers: ["+15105550100"]\n    destination_country: USA\n',
        5,
        ("outbound_trunks", "t", "destination_country"),
        ["'USA' is not an ISO 3166-1 alpha-2", "such as 'US'"],
    ),
    "utf8-header": (
        OUT + '    numbers: ["+15105550100"]\n    headers: {X-Name: "Zoë"}\n',
        5,
        ("outbound_trunks", "t", "headers", "X-Name"),
        ["'X-Name' has non-ASCII", "LiveKit accepts UTF-8"],
    ),
    "tab-header": (
        OUT + '    numbers: ["+15105550100"]\n    headers: {X-Pair: "a\\tb"}\n',
        5,
        ("outbound_trunks", "t", "headers", "X-Pair"),
        ["'X-Pair' has a TAB", "LiveKit accepts it"],
    ),
    "forbidden-header-from-an-attribute": (
        OUT + '    numbers: ["+15105550100"]\n    attributes_to_headers: {caller: Contact}\n',
        5,
        ("outbound_trunks", "t", "attributes_to_headers", "caller"),
        ["LiveKit accepts 'Contact' here", "ForbiddenSipHeaderNames"],
    ),
    "allowed-addresses-in-one-entry": (
        IN
        + '    numbers: ["+15105550100"]\n    allowed_addresses: ["10.0.0.0/8, 10.1.0.0/16"]\n'
        + ANY,
        4,
        ("inbound_trunks", "i", "allowed_addresses", 0),
        ["ignores it", "one address, CIDR or host per entry", "from any address"],
    ),
    "formatted-rule-number": (
        IN
        + '    numbers: ["+15105550100"]\n'
        + "dispatch_rules:\n  r:\n    rule: {individual: {}}\n"
        + '    inbound_numbers: ["+1 415-555-0100"]\n',
        7,
        ("dispatch_rules", "r", "inbound_numbers", 0),
        ["compares a dispatch rule's numbers", "exactly", "write '+14155550100'"],
    ),
    "outbound-username-alone": (
        OUT + '    numbers: ["+15105550100"]\n    auth: {username: acme}\n',
        5,
        ("outbound_trunks", "t", "auth"),
        ["no password", "401/407", "set auth.password"],
    ),
    "number-twice": (
        OUT + '    numbers: ["+15105550100", "+15105550100"]\n',
        4,
        ("outbound_trunks", "t", "numbers"),
        ["lists a number twice", "at random"],
    ),
    "password-alone": (
        IN + "    auth: {password: s3cret}\nsettings: {allow_literal_secrets: true}\n",
        3,
        ("inbound_trunks", "i", "auth"),
        ["no username", "not authenticated", "anyone", "set auth.username"],
    ),
    "username-alone": (
        IN + '    numbers: ["+15105550100"]\n    auth: {username: office}\n' + ANY,
        4,
        ("inbound_trunks", "i", "auth"),
        ["no password", "not authenticated", "set auth.password"],
    ),
    "formatted-inbound-number": (
        IN + '    numbers: ["+1 510-555-0100"]\n' + ANY,
        3,
        ("inbound_trunks", "i", "numbers", 0),
        ["matches it as '+15105550100'", "reach this trunk"],
    ),
    "sip-uri-allowed-number": (
        IN + '    numbers: ["+15105550100"]\n    allowed_numbers: ["bob@pbx"]\n' + ANY,
        4,
        ("inbound_trunks", "i", "allowed_numbers", 0),
        ["'bob@pbx' can never match", "calling number"],
    ),
}


@pytest.mark.parametrize(("text", "line", "path", "words"), CASES.values(), ids=CASES.keys())
def test_accepted_by_livekit_is_a_warning(
    tmp_path: Path, text: str, line: int, path: tuple[str | int, ...], words: list[str]
) -> None:
    config = load(tmp_path, text)
    got_line, got_path, message = only_warning(config)
    assert (got_line, got_path) == (line, path)
    for word in words:
        assert word in message


def test_the_resource_keeps_the_value_as_written(tmp_path: Path) -> None:
    """Nothing is normalised: the model holds what LiveKit would hold (a bare adopt)."""
    config = load(
        tmp_path,
        OUT
        + '    numbers: ["+1 (510) 555-0100", alice]\n'
        + "    destination_country: us\n"
        + '    headers: {X-Pair: "caf\\u00e9\\tx"}\n',
    )
    t = config.outbound_trunks["t"]
    assert t.numbers == ["+1 (510) 555-0100", "alice"]
    assert t.destination_country == "us"
    assert t.headers == {"X-Pair": "café\tx"}


def test_a_test_call_from_a_sip_user(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        OUT + "    numbers: [alice]\ntest_calls:\n  c: {trunk: t, to: bob, from: alice}\n",
    )
    assert config.test_calls["c"].from_ == "alice"
    assert [w.path for w in config.warnings] == [("outbound_trunks", "t", "numbers", 0)]


def test_validate_shows_each_warning_once_and_exits_0(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        OUT + '    numbers: ["+1 (510) 555-0100"]\n    destination_country: us\n'
    )
    res = CliRunner().invoke(cli, ["validate", "--config", str(tmp_path)])
    assert res.exit_code == 0, res.output
    lines = res.stderr.splitlines()
    assert sum("outbound_trunks.t.numbers[0]: LiveKit accepts" in x for x in lines) == 1
    assert sum("outbound_trunks.t.destination_country: 'us'" in x for x in lines) == 1
    assert all(x.startswith(f"{tmp_path}/c.yaml:") or "c.yaml:" in x for x in lines)


def test_a_warning_on_a_resource_named_with_a_variable_points_at_its_key(
    tmp_path: Path,
) -> None:
    """A ${VAR} in a resource's key: the warning names the resource by its name and is
    located at its key (it was put on line 1 of the file)."""
    config = load(
        tmp_path,
        "outbound_trunks:\n"
        + "  ok: {address: sip.example.com, numbers: ['+15105550100']}\n"
        + "  ${ENV}-t:\n"
        + "    address: sip.example.com\n"
        + '    numbers: ["15105550100"]\n',
        env={"ENV": "prod"},
    )
    [w] = config.warnings
    assert w.path == ("outbound_trunks", "prod-t", "numbers", 0)
    assert (w.line, w.col) == (5, 15)
    assert config.declared_at[("outbound_trunks", "prod-t")].endswith("c.yaml:3")


def test_a_schedule_warning_on_a_call_named_with_a_variable(tmp_path: Path) -> None:
    """The hourly-cap warning is on the busiest call, at that call's own line (with a
    ${VAR} in its key it pointed at the test_calls section's line, i.e. no call)."""
    config = load(
        tmp_path,
        OUT
        + '    numbers: ["+15105550100"]\n'
        + "settings: {max_calls_per_hour: 10}\n"
        + "test_calls:\n"
        + '  quiet: {trunk: t, to: "+15550001111", schedule: "every 1h"}\n'
        + '  ${ENV}-busy: {trunk: t, to: "+15550001111", schedule: "every 1m"}\n',
        env={"ENV": "prod"},
    )
    [w] = config.warnings
    assert w.path == ("test_calls", "prod-busy")
    assert w.line == 8


def test_errors_in_a_resource_named_with_a_variable_point_into_it(tmp_path: Path) -> None:
    from sipctl.errors import ConfigError

    (tmp_path / "c.yaml").write_text(
        "outbound_trunks:\n  ${ENV}-t:\n    address: sip.example.com\n    numbers: [a@b]\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, env={"ENV": "prod"})
    [p] = info.value.problems
    assert (p.path, p.line) == (("outbound_trunks", "prod-t", "numbers", 0), 4)


def test_a_formatted_inbound_number_is_warned_about_once(tmp_path: Path) -> None:
    """The routing warnings take a formatted trunk number in the form calls carry (LiveKit
    matches the trunk normalised): a rule for +15105550100 takes those calls. Only the
    formatting warning remains (the routing lint said no rule took the call)."""
    from sipctl.route_lint import warnings as routing_warnings

    config = load(
        tmp_path,
        IN
        + '    numbers: ["+1 (510) 555-0100"]\n'
        + "dispatch_rules:\n  r:\n    rule: {individual: {room_prefix: call-}}\n"
        + '    trunks: [i]\n    numbers: ["+15105550100"]\n',
    )
    assert routing_warnings(config) == []
    assert [w.path for w in config.warnings] == [("inbound_trunks", "i", "numbers", 0)]
    unreached = load(
        tmp_path,
        IN + '    numbers: ["+1 (510) 555-0100"]\n' + "dispatch_rules:\n"
        "  r: {rule: {individual: {}}, trunks: [i], numbers: ['+15105550199']}\n",
    )
    [w, _] = routing_warnings(unreached)
    assert "a call to +15105550100 reaches no dispatch rule" in w.message


def test_a_formatted_number_without_its_country_code_is_not_given_a_wrong_fix(
    tmp_path: Path,
) -> None:
    """LiveKit reads (510) 555-0100 as +5105550100 (NormalizeNumber adds only the '+'):
    the warning says so rather than suggesting that number."""
    config = load(tmp_path, OUT + '    numbers: ["(510) 555-0100"]\n')
    [w] = config.warnings
    assert "with its country code (LiveKit reads it as '+5105550100')" in w.message
    assert "write '+5105550100'" not in w.message
