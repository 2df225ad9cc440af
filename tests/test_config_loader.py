"""The config loader: merging, interpolation, secrets and exact error locations."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sipctl.config import load_config
from sipctl.errors import ConfigError
from sipctl.secrets import Secret

TRUNK = """\
outbound_trunks:
  twilio-us:
    address: sip.example.com
    numbers: ["+15105550123"]
    auth:
      username: alice
      password: ${PW}
"""


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text))
    return p


def problems(tmp: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(tmp, env=env if env is not None else {"PW": "s3cret"})
    return [str(p).replace(str(tmp) + "/", "") for p in info.value.problems]


def test_example_config_is_valid() -> None:
    config = load_config(Path(__file__).parent.parent / "config", env={})
    assert set(config.outbound_trunks) == {"acme-us", "acme-us-tcp"}
    assert config.test_calls["acme-us-busy-line"].expected_status == 486
    assert config.test_calls["acme-us-answers"].expected_status is None


def test_loads_and_merges_files(tmp_path: Path) -> None:
    write(tmp_path, "trunks.yaml", TRUNK)
    write(
        tmp_path,
        "sub/calls.yml",
        """\
        test_calls:
          smoke:
            trunk: twilio-us
            to: "+15550100001"
        """,
    )
    config = load_config(tmp_path, env={"PW": "s3cret"})
    trunk = config.outbound_trunks["twilio-us"]
    assert trunk.transport == "auto"
    assert trunk.auth is not None and isinstance(trunk.auth.password, Secret)
    assert trunk.auth.password.reveal() == "s3cret"
    assert trunk.auth.password.source == "${PW}"
    call = config.test_calls["smoke"]
    assert (call.ringing_timeout, call.hold, call.retries) == (30.0, 2.0, 0)
    assert call.effective_answer_within == 30.0
    assert config.summary() == (
        "1 outbound trunk, 0 inbound trunks, 0 dispatch rules, 1 test call in 2 files"
    )


def test_transport_typo_is_located(tmp_path: Path) -> None:
    write(
        tmp_path, "trunks.yaml", TRUNK.replace("    numbers:", "    transport: tpc\n    numbers:")
    )
    assert problems(tmp_path) == [
        "trunks.yaml:4:5: outbound_trunks.twilio-us.transport: "
        "must be one of auto, udp, tcp, tls (got 'tpc')"
    ]


def test_several_problems_reported_together(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        """\
        outbound_trunks:
          t1:
            address: sip:foo@example.com
            adress: x
            numbers: ["+15105550123", "call-me@pbx"]
            headers: {X-Ok: "a\\nb"}
        """,
    )
    assert problems(tmp_path) == [
        "a.yaml:3:5: outbound_trunks.t1.address: must be a hostname or IP, not a SIP URI "
        "(drop the scheme: 'sip:foo@example.com')",
        "a.yaml:4:5: outbound_trunks.t1.adress: unknown field (did you mean 'address'?)",
        "a.yaml:5:31: outbound_trunks.t1.numbers[1]: must be a phone number or SIP user, not "
        "a SIP URI (LiveKit's SIP service refuses to dial from one; got 'call-me@pbx')",
        "a.yaml:6:5: outbound_trunks.t1.headers: headers: the value of 'X-Ok' has a control "
        "character, which LiveKit refuses (printable characters and TAB only)",
    ]


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("alice@example.com", "must be a hostname or IP without a user part"),
        ("example.com;transport=tcp", "must not contain a transport parameter"),
        ("example.com:99999", "has a bad port '99999'"),
        ("exa mple.com", "is not a valid hostname or IP"),
    ],
)
def test_address_rules(tmp_path: Path, address: str, message: str) -> None:
    write(tmp_path, "t.yaml", TRUNK.replace("sip.example.com", f"'{address}'"))
    (found,) = problems(tmp_path)
    assert found.startswith("t.yaml:3:5: outbound_trunks.twilio-us.address: " + message)


def test_good_addresses(tmp_path: Path) -> None:
    for address in ("10.0.0.1", "10.0.0.1:5080", "[::1]:5060", "sip.example.com:5061"):
        write(tmp_path, "t.yaml", TRUNK.replace("sip.example.com", f"'{address}'"))
        assert load_config(tmp_path, env={"PW": "x"}).outbound_trunks["twilio-us"].address


def test_yaml_syntax_error_has_parser_position(tmp_path: Path) -> None:
    write(tmp_path, "bad.yaml", "outbound_trunks:\n  a: [1, 2\n  b: 3\n")
    (found,) = problems(tmp_path)
    assert found.startswith("bad.yaml:3:4: YAML syntax error:")


def test_duplicate_key_in_one_mapping(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", TRUNK + "    address: other.example.com\n")
    assert problems(tmp_path) == [
        "t.yaml:8:5: outbound_trunks.twilio-us.address: duplicate key 'address' "
        "(first at line 3; YAML would silently keep only the last)"
    ]


def test_same_name_in_two_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", TRUNK)
    write(tmp_path, "b.yaml", TRUNK)
    assert problems(tmp_path) == [
        "b.yaml:2:3: outbound_trunks.twilio-us: name 'twilio-us' is also declared at a.yaml:2:3"
    ]


def test_same_setting_in_two_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "settings:\n  prune: true\n")
    write(tmp_path, "b.yaml", "settings:\n  prune: false\n")
    assert problems(tmp_path) == [
        "b.yaml:2:3: settings.prune: setting 'prune' is also declared at a.yaml:2:3"
    ]


def test_unset_variable_names_file_line_and_variable(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", TRUNK.replace("sip.example.com", "${SIP_EDGE_HOST}"))
    assert problems(tmp_path) == [
        "t.yaml:3:5: outbound_trunks.twilio-us.address: "
        "environment variable SIP_EDGE_HOST is not set"
    ]


def test_interpolation_inside_strings_and_escape(tmp_path: Path) -> None:
    write(
        tmp_path,
        "t.yaml",
        TRUNK.replace("sip.example.com", "edge-${REGION}.example.com").replace(
            "username: alice", "username: $${NOT_A_VAR}"
        ),
    )
    config = load_config(tmp_path, env={"PW": "x", "REGION": "us1"})
    trunk = config.outbound_trunks["twilio-us"]
    assert trunk.address == "edge-us1.example.com"
    assert trunk.auth is not None and trunk.auth.username == "${NOT_A_VAR}"


def test_literal_password_is_an_error_without_echoing_it(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", TRUNK.replace("${PW}", "hunter2"))
    found = problems(tmp_path)
    assert found == [
        "t.yaml:7:7: outbound_trunks.twilio-us.auth.password: is a literal secret: write a "
        "${VARIABLE} reference and set it in the environment (or set "
        "settings.allow_literal_secrets: true)"
    ]
    assert "hunter2" not in "".join(found)


def test_literal_password_allowed_by_setting(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", TRUNK.replace("${PW}", "hunter2"))
    write(tmp_path, "s.yaml", "settings:\n  allow_literal_secrets: true\n")
    trunk = load_config(tmp_path, env={}).outbound_trunks["twilio-us"]
    assert trunk.auth is not None and trunk.auth.password is not None
    assert trunk.auth.password.reveal() == "hunter2"


def test_secret_never_prints() -> None:
    s = Secret("hunter2", "${PW}")
    assert "hunter2" not in repr(s) + str(s) + f"{s}" + f"{s!r}"
    from pydantic import BaseModel

    class M(BaseModel):
        pw: Secret

    assert "hunter2" not in M(pw=s).model_dump_json()
    assert "hunter2" not in repr(M(pw=s))


def test_digits_only_number_is_a_warning(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", TRUNK.replace('"+15105550123"', '"15105550123"'))
    config = load_config(tmp_path, env={"PW": "x"})
    assert [str(w).replace(f"{tmp_path}/", "") for w in config.warnings] == [
        "t.yaml:4:15: warning: outbound_trunks.twilio-us.numbers[0]: '15105550123' has no "
        "leading '+': fine if your provider wants digits only (Telnyx does), otherwise "
        "write E.164"
    ]


def test_test_call_references(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", TRUNK)
    write(
        tmp_path,
        "c.yaml",
        """\
        test_calls:
          a:
            trunk: twilio-uz
            to: "+15550100001"
          b:
            trunk: twilio-us
            to: "+15550100001"
            from: "+19999999999"
        """,
    )
    assert problems(tmp_path) == [
        "c.yaml:3:5: test_calls.a.trunk: names outbound trunk 'twilio-uz', which is not "
        "declared (did you mean 'twilio-us'?)",
        "c.yaml:8:5: test_calls.b.from: '+19999999999' is not one of trunk twilio-us's "
        "numbers (+15105550123)",
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("schedule", "'* * *'", "must be a 5-field cron expression or 'every 30s' (got '* * *')"),
        ("schedule", "'61 * * * *'", "is not a valid cron expression (got '61 * * * *')"),
        ("hold", "5x", "must be a duration such as 20s, 1m30s or 500ms (got '5x')"),
        (
            "expect",
            "maybe",
            "must be 'answered', {sip_status: 486} or {rings_out: true} (got 'maybe')",
        ),
        ("to", "sip:bob@example.com", "must be a phone number or SIP user, not a SIP URI"),
        ("retries", "many", "must be a whole number (got a string)"),
    ],
)
def test_test_call_field_errors(tmp_path: Path, field: str, value: str, message: str) -> None:
    write(tmp_path, "t.yaml", TRUNK)
    write(
        tmp_path,
        "c.yaml",
        f'test_calls:\n  a:\n    trunk: twilio-us\n    to: "+15550100001"\n    {field}: {value}\n',
    )
    if field == "to":
        text = (tmp_path / "c.yaml").read_text().replace('    to: "+15550100001"\n', "")
        (tmp_path / "c.yaml").write_text(text)
    (found,) = problems(tmp_path)
    line = 4 if field == "to" else 5
    assert found.startswith(f"c.yaml:{line}:5: test_calls.a.{field}: {message}")


def test_waited_call_budget(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", TRUNK)
    write(
        tmp_path,
        "c.yaml",
        "test_calls:\n  a:\n    trunk: twilio-us\n    to: '+15550100001'\n"
        "    ringing_timeout: 1m10s\n    hold: 10s\n",
    )
    assert problems(tmp_path) == [
        "c.yaml:2:3: test_calls.a: ringing_timeout + hold must stay under LiveKit's 80s "
        "budget for a waited call (got 70s + 10s)"
    ]


def test_durations_and_defaults_from_settings(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", TRUNK)
    write(
        tmp_path,
        "c.yaml",
        """\
        settings:
          test_call_defaults:
            ringing_timeout: 20s
            hold: 500ms
            retries: 2
        test_calls:
          a:
            trunk: twilio-us
            to: "+15550100001"
            degraded_after: 1m30s
          b:
            trunk: twilio-us
            to: "+15550100001"
            hold: 1s
            ringing_timeout: 2m
        """,
    )
    with pytest.raises(ConfigError):
        load_config(tmp_path, env={"PW": "x"})  # b: 2m + 1s > 80 s, a: 90s > 20s
    text = (tmp_path / "c.yaml").read_text().replace("2m", "45s").replace("1m30s", "5s")
    (tmp_path / "c.yaml").write_text(text)
    config = load_config(tmp_path, env={"PW": "x"})
    a, b = config.test_calls["a"], config.test_calls["b"]
    assert (a.ringing_timeout, a.hold, a.retries, a.degraded_after) == (20.0, 0.5, 2, 5.0)
    assert (b.ringing_timeout, b.hold, b.effective_answer_within) == (45.0, 1.0, 45.0)


def test_empty_directory_and_non_mapping_file(tmp_path: Path) -> None:
    assert problems(tmp_path) == [f"{tmp_path}: no *.yaml or *.yml files in the config directory"]
    write(tmp_path, "list.yaml", "- a\n- b\n")
    assert problems(tmp_path) == [
        "list.yaml:1:1: must be a mapping with keys such as outbound_trunks (got a list)"
    ]


def test_unknown_top_level_key(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", "outbound_trunk:\n  a: {}\n")
    assert problems(tmp_path) == [
        "t.yaml:1:1: outbound_trunk: unknown top-level key (did you mean 'outbound_trunks'?)"
    ]


def test_media_encryption_alias(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", TRUNK + "    media_encryption: require\n")
    trunk = load_config(tmp_path, env={"PW": "x"}).outbound_trunks["twilio-us"]
    assert trunk.media is not None and trunk.media.encryption == "require"


def test_inbound_trunk_and_dispatch_rule(tmp_path: Path) -> None:
    write(
        tmp_path,
        "in.yaml",
        """\
        inbound_trunks:
          main-in:
            numbers: ["+15105550100"]
          open-in: {}
        dispatch_rules:
          to-agent:
            rule: {individual: {room_prefix: call-}}
            trunks: [main-in, nope]
        """,
    )
    assert problems(tmp_path) == [
        "in.yaml:4:3: inbound_trunks.open-in: for security, set one of numbers, "
        "allowed_addresses or auth (LiveKit refuses an open inbound trunk)",
        "in.yaml:8:23: dispatch_rules.to-agent.trunks[1]: names inbound trunk 'nope', which "
        "is not declared",
    ]


def test_from_is_checked_against_the_calls_own_trunk(tmp_path: Path) -> None:
    second = TRUNK.replace("outbound_trunks:\n", "").replace("twilio-us", "zz-other")
    write(tmp_path, "t.yaml", TRUNK + second.replace("+15105550123", "+15105550999"))
    write(
        tmp_path,
        "c.yaml",
        "test_calls:\n  a:\n    trunk: twilio-us\n    to: '+15550100001'\n"
        "    from: '+15105550999'\n",
    )
    assert problems(tmp_path) == [
        "c.yaml:5:5: test_calls.a.from: '+15105550999' is not one of trunk twilio-us's "
        "numbers (+15105550123)"
    ]


def test_from_defaults_to_the_trunks_first_number(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", TRUNK.replace('["+15105550123"]', '["+15105550123", "+15105550124"]'))
    write(tmp_path, "c.yaml", "test_calls:\n  a:\n    trunk: twilio-us\n    to: '+15550100001'\n")
    assert load_config(tmp_path, env={"PW": "x"}).test_calls["a"].from_ == "+15105550123"


def test_references_are_checked_even_when_the_call_has_other_errors(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", TRUNK)
    write(
        tmp_path,
        "c.yaml",
        "test_calls:\n  a:\n    trunk: twilio-us\n    to: '+15550100001'\n"
        "    from: '+19999999999'\n    expect: {sip_status: 999}\n",
    )
    found = problems(tmp_path)
    assert [f.split(": ")[1] for f in found] == ["test_calls.a.from", "test_calls.a.expect"]


def test_warnings_are_not_counted_as_errors(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", TRUNK.replace('"+15105550123"', '"15105550123"'))
    write(tmp_path, "c.yaml", "test_calls:\n  a:\n    trunk: nope\n    to: '+15550100001'\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, env={"PW": "x"})
    assert str(info.value) == "1 error and 1 warning in the configuration"


def test_a_secret_default_is_a_literal_secret(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", TRUNK.replace("${PW}", "${PW:-hunter2}"))
    assert problems(tmp_path) == [
        "t.yaml:7:7: outbound_trunks.twilio-us.auth.password: has a literal default "
        "(${PW:-...}), i.e. a literal secret: write a ${VARIABLE} reference and set it in the "
        "environment (or set settings.allow_literal_secrets: true)"
    ]
    write(tmp_path, "s.yaml", "settings:\n  allow_literal_secrets: true\n")
    trunk = load_config(tmp_path, env={}).outbound_trunks["twilio-us"]
    assert trunk.auth is not None and trunk.auth.password is not None
    assert trunk.auth.password.reveal() == "hunter2"


def test_a_bad_setting_does_not_hide_other_problems(tmp_path: Path) -> None:
    write(tmp_path, "s.yaml", "settings:\n  pruen: true\n  max_calls_per_trunk: two\n")
    write(tmp_path, "t.yaml", TRUNK.replace("sip.example.com", "sip:x@y"))
    assert [p.split(": ")[1] for p in problems(tmp_path)] == [
        "settings.pruen",
        "settings.max_calls_per_trunk",
        "outbound_trunks.twilio-us.address",
    ]


def test_from_is_checked_against_an_invalid_trunks_numbers(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", TRUNK + "    transport: tpc\n")
    write(
        tmp_path,
        "c.yaml",
        "test_calls:\n  a:\n    trunk: twilio-us\n    to: '+15550100001'\n"
        "    from: '+19999999999'\n",
    )
    assert [p.split(": ")[1] for p in problems(tmp_path)] == [
        "test_calls.a.from",
        "outbound_trunks.twilio-us.transport",
    ]


def test_the_waited_call_budget_is_strict(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", TRUNK)
    call = "test_calls:\n  a:\n    trunk: twilio-us\n    to: '+15550100001'\n    hold: 2s\n"
    write(tmp_path, "c.yaml", call + "    ringing_timeout: 78s\n")
    (found,) = problems(tmp_path)
    assert "must stay under LiveKit's 80s budget for a waited call (got 78s + 2s)" in found
    write(tmp_path, "c.yaml", call + "    ringing_timeout: 77s\n")
    assert load_config(tmp_path, env={"PW": "x"}).test_calls["a"].ringing_timeout == 77.0
