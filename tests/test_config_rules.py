"""The models' rules as a user meets them: one bad field in a small config, one problem
naming file, line, column and field, in words (no pydantic jargon, no traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipctl.config import Config, load_config
from sipctl.errors import ConfigError

TRUNK = 'outbound_trunks:\n  t:\n    address: sip.example.com\n    numbers: ["+15105550123"]\n'
CALL = 'test_calls:\n  c: {trunk: t, to: "+15550100001", '

RULES = {
    "address-uri-parameters": (
        TRUNK.replace("sip.example.com", '"sip.example.com;lr"'),
        "c.yaml:3:5: outbound_trunks.t.address: must be a hostname or IP without URI "
        "parameters (got 'sip.example.com;lr')",
    ),
    "header-name": (
        TRUNK + '    headers: {"Bad Header": x}\n',
        "c.yaml:5:5: outbound_trunks.t.headers: headers: 'Bad Header' is not a valid SIP "
        "header name",
    ),
    "header-value": (
        TRUNK + '    headers: {X-Ok: "bell\\a"}\n',
        "c.yaml:5:5: outbound_trunks.t.headers: headers: the value of 'X-Ok' has a control "
        "character, which LiveKit refuses (printable characters and TAB only)",
    ),
    "header-value-length": (
        TRUNK + '    headers: {X-Ok: "' + "\u00e9" * 513 + '"}\n',
        "c.yaml:5:5: outbound_trunks.t.headers: headers: the value of 'X-Ok' is longer than "
        "LiveKit's limit of 1024 bytes",
    ),
    "caller-id-uri": (
        TRUNK.replace('["+15105550123"]', '["alice@pbx.example.com"]'),
        "c.yaml:4:15: outbound_trunks.t.numbers[0]: must be a phone number or SIP user, not a "
        "SIP URI (LiveKit's SIP service refuses to dial from one; got 'alice@pbx.example.com')",
    ),
    "media-timeout": (
        TRUNK + "    media: {media_timeout: 11m}\n",
        "c.yaml:5:13: outbound_trunks.t.media.media_timeout: must be at most 10m (LiveKit's limit)",
    ),
    "interval": (
        TRUNK + CALL + 'schedule: "every 500ms"}\n',
        "c.yaml:6:37: test_calls.c.schedule: an interval must be at least 1s",
    ),
    "to-is-a-uri": (
        TRUNK + 'test_calls:\n  c: {trunk: t, to: "sip:bob@example.com"}\n',
        "c.yaml:6:17: test_calls.c.to: must be a phone number or SIP user, not a SIP URI "
        "(got 'sip:bob@example.com')",
    ),
    "to-is-not-a-number": (
        TRUNK + 'test_calls:\n  c: {trunk: t, to: "+1 555 hello!"}\n',
        "c.yaml:6:17: test_calls.c.to: must be an E.164 number or a SIP user (got '+1 555 hello!')",
    ),
    "dtmf": (
        TRUNK + CALL + 'dtmf: "12x"}\n',
        "c.yaml:6:37: test_calls.c.dtmf: may only contain 0-9 * # A-D and w (a 0.5 s pause)",
    ),
    "ringing-zero": (
        TRUNK + CALL + "ringing_timeout: 0}\n",
        "c.yaml:6:37: test_calls.c.ringing_timeout: must be positive",
    ),
    "answer-within-after-ringing": (
        TRUNK + CALL + "ringing_timeout: 10s, answer_within: 20s}\n",
        "c.yaml:6:3: test_calls.c: answer_within must not exceed ringing_timeout",
    ),
    "duration-boolean": (
        TRUNK + CALL + "hold: true}\n",
        "c.yaml:6:37: test_calls.c.hold: must be a duration such as 20s, 1m30s or 500ms (got True)",
    ),
    "duration-negative": (
        TRUNK + CALL + "hold: -1}\n",
        "c.yaml:6:37: test_calls.c.hold: must not be negative (got -1)",
    ),
    "duration-unit": (
        TRUNK + CALL + "hold: 1x}\n",
        "c.yaml:6:37: test_calls.c.hold: must be a duration such as 20s, 1m30s or 500ms (got '1x')",
    ),
    "setting-type": (
        "settings:\n  parallelism: lots\n  prune: true\n",
        "c.yaml:2:3: settings.parallelism: must be a whole number (got a string)",
    ),
}


def load(tmp: Path, text: str) -> Config:
    (tmp / "c.yaml").write_text(text)
    return load_config(tmp, env={})


@pytest.mark.parametrize(("text", "expected"), RULES.values(), ids=RULES.keys())
def test_one_rule_one_problem(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert [str(p).replace(f"{tmp_path}/", "") for p in info.value.problems] == [expected]


@pytest.mark.parametrize(
    ("schedule", "per_hour"), [("every 1m", 60), ("*/5 * * * *", 12)], ids=["interval", "cron"]
)
def test_schedules_over_the_hourly_cap_warn(tmp_path: Path, schedule: str, per_hour: int) -> None:
    text = TRUNK + "settings: {max_calls_per_hour: 10}\n" + CALL + f'schedule: "{schedule}"}}\n'
    config = load(tmp_path, text)
    assert [(w.severity, w.line, w.message) for w in config.warnings] == [
        (
            "warning",
            7,
            f"the schedules dial up to {per_hour} calls an hour, more than "
            "settings.max_calls_per_hour (10); --watch will skip runs over the cap",
        )
    ]


def test_the_hourly_cap_warning_names_the_busiest_call(tmp_path: Path) -> None:
    text = (
        TRUNK
        + "settings: {max_calls_per_hour: 10}\n"
        + "test_calls:\n"
        + '  quiet: {trunk: t, to: "+15550001111", schedule: "every 1h"}\n'
        + '  busy: {trunk: t, to: "+15550001111", schedule: "every 1m"}\n'
    )
    config = load(tmp_path, text)
    [warning] = config.warnings
    assert warning.path == ("test_calls", "busy")


def test_the_hourly_cap_warning_counts_the_busiest_hour_of_a_cron_schedule(
    tmp_path: Path,
) -> None:
    """``* 9 * * *`` dials 60 times between 9 and 10 (2.5 an hour on average over the day):
    --watch's cap is per hour, so that hour counts, and that call is the one named (the
    average named the steady call instead, or nothing at all)."""
    calls = (
        "test_calls:\n"
        '  steady: {trunk: t, to: "+15550001111", schedule: "every 10m"}\n'
        '  burst: {trunk: t, to: "+15550001111", schedule: "* 9 * * *"}\n'
    )
    for cap in (5, 10):
        config = load(tmp_path, TRUNK + f"settings: {{max_calls_per_hour: {cap}}}\n" + calls)
        [warning] = config.warnings
        assert warning.path == ("test_calls", "burst"), cap
        assert warning.line == 8
        assert warning.message.startswith("the schedules dial up to 66 calls an hour")


def test_the_busiest_hour_counts_retries_and_wraps_around_the_week() -> None:
    from sipctl.schedule import Schedule, busiest_hour

    # Sunday 23:30-23:59 and Monday 00:00-00:29 are one hour of runs
    late, early = Schedule("30-59 23 * * 0"), Schedule("0-29 0 * * 1")
    assert busiest_hour({"late": (late, 1), "early": (early, 2)}) == (90, "early")
    assert busiest_hour({"a": (Schedule("every 30s"), 1), "b": (Schedule("every 1m"), 3)}) == (
        300,
        "b",
    )
