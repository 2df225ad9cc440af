"""``sipctl route`` against the sandbox: 500+ generated inbound calls over real SIP.

The product predicts LiveKit's routing (``sipctl.route``); the sandbox imitates it (its
own code, never shared). Each generated call goes to the sandbox's SIP port from a
loopback address, and where it lands (the SIP participant's ``sip.trunkID`` and
``sip.ruleID``, its room) or how it is refused is compared with the prediction. A
disagreement is a bug in one of the two.

Bounded: a fixed number of calls, a few at a time, each watched for at most a few seconds.
"""

from __future__ import annotations

import asyncio
import random
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sipctl.config import load_config
from sipctl.route import Call, Decision, Outcome, from_config, route
from tests.route_sipsender import Caller, Dialog

N_CALLS = 520
BATCH = 16  # calls in flight at once (distinct callers, so participants tell them apart)
SETTLE = 3.0  # seconds a call may take to land or be refused

CONFIG = """\
inbound_trunks:
  t-plus:
    numbers: ["+15550700001", "+15550700002"]
  t-bare:
    numbers: ["15550700011"]
  t-callers:
    numbers: ["+15550700021"]
    allowed_numbers: ["+15551110001", "15551110002"]
  t-ip:
    numbers: ["+15550700031", "+15550700032"]
    allowed_addresses: ["127.0.0.2", "127.0.1.0/24"]
  t-default:
    allowed_addresses: ["127.0.0.3"]
  t-plus-vip:
    numbers: ["+15550700002"]
    allowed_numbers: ["+15551110002"]
dispatch_rules:
  r-sales:
    trunks: [t-plus]
    numbers: ["+15550700001"]
    rule: {direct: {room_name: sales}}
  r-plus:
    trunks: [t-plus]
    rule: {individual: {room_prefix: plus}}
  r-bare:
    trunks: [t-bare]
    rule: {callee: {room_prefix: bare}}
  r-vip:
    trunks: [t-callers]
    inbound_numbers: ["+15551110001"]
    rule: {direct: {room_name: vip}}
  r-pin:
    trunks: [t-callers]
    rule: {direct: {room_name: callers-pin, pin: "4321"}}
  r-ip:
    trunks: [t-ip]
    numbers: ["15550700031"]
    rule: {direct: {room_name: ip}}
  r-catch:
    numbers: ["+15550700032", "+15550700099"]
    rule: {individual: {room_prefix: catch, no_randomness: true}}
  r-default:
    trunks: [t-default]
    hide_phone_number: true
    rule: {individual: {room_prefix: dflt}}
"""

NUMBERS = [
    "+15550700001",
    "15550700001",
    "+15550700002",
    "1-555-070-0002",
    "+15550700011",
    "15550700011",
    "+15550700021",
    "15550700021",
    "+15550700031",
    "15550700031",
    "+15550700032",
    "+15550700099",
    "15550700099",
    "+15550709999",
]
KNOWN_CALLERS = ["+15551110001", "15551110001", "+15551110002", "15551110002"]
SOURCES = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.1.7"]


@dataclass
class Case:
    call: Call
    predicted: Decision


def generate(seed: int = 15) -> list[Case]:
    (trunks, rules) = _entries()
    rng = random.Random(seed)
    cases = []
    for i in range(N_CALLS):
        frm = rng.choice(KNOWN_CALLERS) if rng.random() < 0.4 else f"+1555220{i:04d}"
        call = Call(
            to=rng.choice(NUMBERS),
            from_=frm,
            source_ip=rng.choice(SOURCES),
            from_host=rng.choice(SOURCES),
        )
        cases.append(Case(call, route(call, trunks, rules)))
    return cases


_ENTRIES: Any = None


def _entries() -> Any:
    global _ENTRIES
    if _ENTRIES is None:
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "sip.yaml").write_text(CONFIG)
            _ENTRIES = from_config(load_config(d))
    return _ENTRIES


def test_the_generated_set_covers_every_outcome_and_resource() -> None:
    """The comparison only means something if the calls exercise every path."""
    cases = generate()
    outcomes = {c.predicted.outcome for c in cases}
    assert outcomes == set(Outcome) - {Outcome.wrong_pin}  # no PIN is typed
    trunks = {c.predicted.trunk.key for c in cases if c.predicted.trunk}
    rules = {c.predicted.rule.key for c in cases if c.predicted.rule}
    (all_trunks, all_rules) = _entries()
    # t-plus-vip only ever clashes with t-plus (503); r-pin only ever asks for its PIN
    assert trunks == {t.key for t in all_trunks} - {"t-plus-vip"}
    assert rules == {r.key for r in all_rules} - {"r-pin"}
    # and the traps: a rule's exact numbers, no trunk but a catch-all rule
    assert any(c.predicted.trunk is None and c.predicted.landed for c in cases)
    assert any(
        c.predicted.trunk is not None and c.predicted.trunk.key == "t-ip" and not c.predicted.landed
        for c in cases
    )


def _room_matches(pattern: str, room: str) -> bool:
    regex = re.escape(pattern).replace(re.escape("<random>"), r"[A-Za-z0-9_\-]+")
    return re.fullmatch(regex, room) is not None
