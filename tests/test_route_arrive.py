"""Inbound test calls (``arrive:``) end to end: out through Kamailio, back into the sandbox.

livekit-api places the outbound leg through the ``lab`` trunk to ``+1555070…``; Kamailio
routes it back to the sandbox's SIP port as a DID would; ``sipctl check`` judges where it
arrived, and leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from livekit import api

from sipctl.cli import cli
from sipctl.sandbox.provider import Provider, free_port, missing_binaries
from tests.fixtures.sandbox import Sandbox, SandboxFactory

pytestmark = pytest.mark.sip

CONFIG = """\
outbound_trunks:
  lab:
    address: {address}
    numbers: ["+15557770000"]
    auth: {{username: {username}, password: "${{LAB_PASSWORD}}"}}
inbound_trunks:
  main-in:
    numbers: ["+15550700001", "+15550700002"]
dispatch_rules:
  sales:
    trunks: [main-in]
    numbers: ["+15550700001"]
    rule: {{direct: {{room_name: sales}}}}
    room_config: {{agents: [{{agent_name: sales-agent}}]}}
  support:
    trunks: [main-in]
    rule: {{individual: {{room_prefix: support}}}}
test_calls:
  sales-line:
    trunk: lab
    to: "+15550700001"
    arrive: {{inbound_trunk: main-in, dispatch_rule: sales, within: 10s}}
  support-line:
    trunk: lab
    to: "+15550700002"
    arrive: {{inbound_trunk: main-in, dispatch_rule: support}}
  wrong-rule:
    trunk: lab
    to: "+15550700001"
    arrive: {{inbound_trunk: main-in, dispatch_rule: support, within: 10s}}
  nowhere:
    trunk: lab
    to: "+15550709999"
    arrive: {{inbound_trunk: main-in, dispatch_rule: sales, within: 3s}}
"""


@pytest.fixture
def setup(tmp_path: Path, sandbox_factory: SandboxFactory) -> Iterator[tuple[Sandbox, Path]]:
    missing = missing_binaries()
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install kamailio sip-tester)")
    sip_port = free_port()
    # the provider starts first and stops last: the sandbox hangs up through it
    prov = Provider(tmp_path / "prov", livekit_sip=f"127.0.0.1:{sip_port}")
    prov.start()
    try:
        sb = sandbox_factory(extra_args=["--sip-port", str(sip_port)])
        config = tmp_path / "config"
        config.mkdir()
        (config / "sip.yaml").write_text(
            CONFIG.format(address=prov.address, username=prov.username)
        )
        (config / ".password").write_text(prov.password)  # hidden: not read as config
        yield sb, config
    finally:
        prov.stop()


def run(sb: Sandbox, config: Path, *args: str) -> tuple[int, str, str]:
    env = {**sb.env, "LAB_PASSWORD": (config / ".password").read_text()}
    result = CliRunner().invoke(cli, [args[0], "--config", str(config), *args[1:]], env=env)
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.stdout, result.stderr


def test_arrive_calls_pass_fail_and_leave_nothing(setup: tuple[Sandbox, Path]) -> None:
    sb, config = setup
    code, out, err = run(sb, config, "apply", "--auto-approve", "--no-verify")
    assert code == 0, out + err
    reports = config.parent
    code, out, err = run(
        sb,
        config,
        "check",
        *("--output", str(reports / "r.json"), "--output", str(reports / "r.xml")),
        *("--output", str(reports / "r.prom")),
    )
    assert code == 3, out + err
    results = {r["name"]: r for r in json.loads((reports / "r.json").read_text())["results"]}
    # the other formats show them like any call
    assert "sales-line" in out and "misrouted" in out
    junit = (reports / "r.xml").read_text()
    assert 'name="wrong-rule"' in junit and "misrouted" in junit
    prom = (reports / "r.prom").read_text()
    assert 'sipctl_probe_success{call="sales-line",trunk="lab"} 1' in prom
    assert 'sipctl_probe_success{call="nowhere",trunk="lab"} 0' in prom

    ok = results["sales-line"]
    assert (ok["verdict"], ok["expect"], ok["room"]) == ("pass", "arrive", "sales"), ok
    assert "through inbound trunk main-in and dispatch rule sales" in ok["cause"]
    assert ok["cause"].endswith("in room sales, agents sales-agent dispatched"), ok
    support = results["support-line"]
    assert support["verdict"] == "pass", support
    assert support["room"].startswith("support_+15557770000_")

    wrong = results["wrong-rule"]
    assert (wrong["verdict"], wrong["reason"]) == ("fail", "misrouted"), wrong
    assert wrong["cause"] == (
        "arrived through inbound trunk main-in and dispatch rule sales, not dispatch rule "
        "support as declared"
    )

    lost = results["nowhere"]
    assert (lost["verdict"], lost["reason"]) == ("fail", "not_arrived"), lost
    assert "sipctl route says: no dispatch rule matches" in lost["cause"]

    async def leftovers() -> list[str]:
        async with api.LiveKitAPI(sb.url, sb.api_key, sb.api_secret) as lk:
            rooms = (await lk.room.list_rooms(api.ListRoomsRequest())).rooms
            return [r.name for r in rooms]

    assert asyncio.run(leftovers()) == []


def test_validate_rejects_answer_fields_beside_arrive(tmp_path: Path) -> None:
    (tmp_path / "sip.yaml").write_text(
        textwrap.dedent(
            """\
            settings:
              test_call_defaults: {hold: 3s, answer_within: 10s}
            outbound_trunks:
              lab: {address: 127.0.0.1, numbers: ["+15557770000"]}
            inbound_trunks:
              main-in: {numbers: ["+15550700001"]}
            dispatch_rules:
              sales: {trunks: [main-in], rule: {direct: {room_name: sales}}}
            test_calls:
              fine:
                trunk: lab
                to: "+15550700001"
                arrive: {inbound_trunk: main-in, dispatch_rule: sales}
              bad:
                trunk: lab
                to: "+15550700001"
                expect: answered
                dtmf: "1"
                arrive: {inbound_trunk: main-in, dispatch_rule: sales}
              worse:
                trunk: lab
                to: "+15550700001"
                arrive: {inbound_trunk: main-inn, dispatch_rule: sales, within: 0s}
            """
        )
    )
    result = CliRunner().invoke(cli, ["validate", "--config", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert any(
        "test_calls.bad: expect and dtmf cannot be used with arrive" in line for line in lines
    ), lines
    assert any(
        "test_calls.worse.arrive.inbound_trunk: names inbound trunk 'main-inn', which is not "
        "declared (did you mean 'main-in'?)" in line
        for line in lines
    ), lines
    assert any("test_calls.worse.arrive.within: must be more than 0s" in line for line in lines)
    assert not any("test_calls.fine" in line for line in lines), lines


def check_one_under_faults(
    sb: Sandbox, config: Path, faults: dict[str, Any], name: str
) -> tuple[int, dict[str, Any]]:
    """Apply, then run the test call ``name`` while the sandbox has ``faults``: the exit
    code and its one JSON result."""
    code, out, err = run(sb, config, "apply", "--auto-approve", "--no-verify")
    assert code == 0, out + err
    sb.set_faults(**faults)
    code, out, err = run(sb, config, "check", name, "--format", "json")
    (r,) = json.loads(out)["results"]
    return code, r


def test_arrive_call_blames_livekit_for_an_empty_answer(setup: tuple[Sandbox, Path]) -> None:
    """An empty 200 to CreateSIPParticipant (protobuf reads it as a message with every field
    unset) is LiveKit's failure to answer, not the inbound route's: it used to end in
    "never arrived" and fail the route."""
    empty = {"garbage": {"method": "CreateSIPParticipant", "kind": "empty"}}
    code, r = check_one_under_faults(*setup, empty, "sales-line")
    assert (code, r["verdict"], r["reason"]) == (1, "error", "livekit"), r
    assert r["cause"].startswith("inbound test call: LiveKit at "), r
    assert "answered about no room, not about this call" in r["cause"], r


UNSEEN = {
    "try later": {"errors": [{"method": "ListRooms", "code": "unavailable", "msg": "try later"}]},
    "not a valid protobuf": {"garbage": {"method": "ListRooms", "kind": "garbage"}},
}


@pytest.mark.parametrize("said", list(UNSEEN))
def test_arrive_call_unseen_is_livekits_error(setup: tuple[Sandbox, Path], said: str) -> None:
    """When every listing of the rooms fails, sipctl never saw whether the call arrived:
    that is LiveKit's error, not ``not_arrived`` (which blamed the route for it)."""
    code, r = check_one_under_faults(*setup, UNSEEN[said], "nowhere")
    assert (code, r["verdict"], r["reason"]) == (1, "error", "livekit"), r
    assert "could not see whether it arrived" in r["cause"] and said in r["cause"], r


@pytest.mark.parametrize(
    "faults",
    [
        {"errors": [{"method": "ListDispatch", "code": "unavailable", "msg": "try later"}]},
        {"garbage": {"method": "ListDispatch", "kind": "garbage"}},
    ],
    ids=["unavailable", "garbage"],
)
def test_arrive_call_with_unread_dispatches_is_not_a_pass(
    setup: tuple[Sandbox, Path], faults: dict[str, Any]
) -> None:
    """A pass says the rule's agents were dispatched; when LiveKit's ListDispatch cannot be
    read, that was not seen (it used to pass with a remark, or end in an internal error)."""
    code, r = check_one_under_faults(*setup, faults, "sales-line")
    assert (code, r["verdict"], r["reason"]) == (1, "error", "livekit"), r
    assert "through inbound trunk main-in and dispatch rule sales" in r["cause"], r
    assert "whether sales-agent was dispatched is unknown" in r["cause"], r
