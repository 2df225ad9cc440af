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
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sipctl.config import load_config
from sipctl.route import Call, Decision, Outcome, route
from sipctl.route_sources import from_config
from tests.route_sipsender import Caller, Dialog

N_CALLS = 520
BATCH = 65  # calls in flight at once
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
# the callers the allow-lists name, in several forms (allowed_numbers normalise,
# inbound_numbers do not)
KNOWN_CALLERS = [
    "+15551110001",
    "15551110001",
    "1-555-111-0001",
    "+15551110002",
    "15551110002",
    "+1-555-111-0002",
]
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
        to = rng.choice(NUMBERS)
        known = 0.4 if to.endswith("21") else 0.05
        frm = rng.choice(KNOWN_CALLERS) if rng.random() < known else f"+1555220{i:04d}"
        source = rng.choice(SOURCES)
        # A PIN is typed only when LiveKit asks; give one (right, wrong, or just '#') to
        # the calls that may be asked, and now and then to others (then it is unused).
        pins: list[str | None] = [None, "4321", "1111", ""] if to.endswith("21") else [None]
        pin = rng.choice(pins) if rng.random() < 0.9 else "4321"
        call = Call(to=to, from_=frm, source_ip=source, from_host=source, pin=pin)
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
    assert outcomes == set(Outcome)
    trunks = {c.predicted.trunk.key for c in cases if c.predicted.trunk}
    rules = {c.predicted.rule.key for c in cases if c.predicted.rule}
    (all_trunks, all_rules) = _entries()
    # t-plus-vip only ever clashes with t-plus (503)
    assert trunks == {t.key for t in all_trunks} - {"t-plus-vip"}
    assert rules == {r.key for r in all_rules}
    # and the traps: a rule's exact numbers, no trunk but a catch-all rule
    assert any(c.predicted.trunk is None and c.predicted.landed for c in cases)
    assert any(
        c.predicted.trunk is not None and c.predicted.trunk.key == "t-ip" and not c.predicted.landed
        for c in cases
    )


def _room_matches(pattern: str, room: str) -> bool:
    regex = re.escape(pattern).replace(re.escape("<random>"), r"[A-Za-z0-9_\-]+")
    return re.fullmatch(regex, room) is not None


# --- over SIP -------------------------------------------------------------------------------


@dataclass
class Seen:
    outcome: str
    trunk: str | None = None
    rule: str | None = None
    room: str | None = None


def expected(d: Decision) -> tuple[str, str | None, str | None]:
    return (str(d.outcome), d.trunk.key if d.trunk else None, d.rule.key if d.rule else None)


def batches(cases: list[Case]) -> list[list[Case]]:
    """About BATCH calls each, no caller twice in one: two calls from one caller into one
    room would be one identity there, and LiveKit keeps only the last."""
    seen: Counter[str] = Counter(c.call.from_ for c in cases)
    count = max(-(-len(cases) // BATCH), max(seen.values()))
    out: list[list[Case]] = [[] for _ in range(count)]
    nth: Counter[str] = Counter()
    for case in cases:
        if seen[case.call.from_] > 1:  # the k-th call of a repeated caller: batch k
            out[nth[case.call.from_]].append(case)
            nth[case.call.from_] += 1
    for case in cases:
        if seen[case.call.from_] == 1:
            min(out, key=len).append(case)
    return out


async def _participants(lk: Any) -> dict[str, tuple[str, dict[str, str]]]:
    """SIP participants by their SIP Call-ID (``sip.callIDFull``, which livekit/sip sets
    from the INVITE: pkg/sip/types.go), with their room and attributes."""
    from livekit.protocol.room import ListParticipantsRequest, ListRoomsRequest

    found: dict[str, tuple[str, dict[str, str]]] = {}
    for room in (await lk.room.list_rooms(ListRoomsRequest())).rooms:
        resp = await lk.room.list_participants(ListParticipantsRequest(room=room.name))
        for p in resp.participants:
            attrs = dict(p.attributes)
            found[attrs.get("sip.callIDFull", "")] = (room.name, attrs)
    return found


async def _run_batch(
    lk: Any, callers: dict[str, Caller], batch: list[Case], names: dict[str, str]
) -> list[Seen]:
    from livekit.protocol.room import DeleteRoomRequest, ListRoomsRequest

    from tests.route_sipsender import rtp_target, send_dtmf

    dialogs: list[Dialog] = [
        callers[c.call.source_ip].invite(c.call.to, c.call.from_) for c in batch
    ]
    seen: list[Seen | None] = [None] * len(batch)
    dtmf_sent: set[int] = set()
    tasks: list[asyncio.Task[None]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE
    while loop.time() < deadline and any(s is None for s in seen):
        present = await _participants(lk)
        for i, (case, d) in enumerate(zip(batch, dialogs, strict=True)):
            if seen[i] is not None:
                continue
            hit = present.get(d.call_id)
            final = d.final
            if hit is not None:
                room, attrs = hit
                seen[i] = Seen(
                    "room",
                    names.get(attrs.get("sip.trunkID", "")),
                    names.get(attrs.get("sip.ruleID", "")),
                    room,
                )
            elif final is not None and final.status == 503:
                seen[i] = Seen("unavailable")
            elif final is not None and final.status == 200:
                if case.call.pin is None:
                    seen[i] = Seen("pin_prompt")
                elif i not in dtmf_sent:
                    dtmf_sent.add(i)
                    target = rtp_target(final)
                    assert target is not None, final.body
                    typing = send_dtmf(case.call.source_ip, target, case.call.pin + "#")
                    tasks.append(asyncio.create_task(typing))
                elif "BYE" in d.requests:
                    seen[i] = Seen("wrong_pin")
            elif final is not None:
                seen[i] = Seen(f"sip {final.status}")
        await asyncio.sleep(0.25)
    await asyncio.gather(*tasks)
    for i, d in enumerate(dialogs):
        if seen[i] is None:
            final = d.final
            # still ringing with no participant, or answered and silent after the PIN
            seen[i] = Seen("wrong_pin" if final is not None and final.status == 200 else "dropped")
    await asyncio.gather(
        *(callers[c.call.source_ip].hang_up(d) for c, d in zip(batch, dialogs, strict=True))
    )
    for room in (await lk.room.list_rooms(ListRoomsRequest())).rooms:
        await lk.room.delete_room(DeleteRoomRequest(room=room.name))
    return [s for s in seen if s is not None]


def test_route_agrees_with_the_sandbox_over_sip(tmp_path: Path, sandbox_factory: Any) -> None:
    from livekit import api

    from tests.reconcile_helpers import sipctl

    sb = sandbox_factory(extra_args=["--sip-port", "0"])
    assert sb.sip_port, "the sandbox printed no SIP port"
    (tmp_path / "sip.yaml").write_text(CONFIG)
    applied = sipctl(sb, tmp_path, "apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    cases = generate()

    async def main() -> list[tuple[Case, Seen]]:
        lk = api.LiveKitAPI(sb.url, sb.api_key, sb.api_secret)
        callers: dict[str, Caller] = {}
        try:
            names = {
                t.sip_trunk_id: t.name
                for t in (await lk.sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest())).items
            }
            names.update(
                {
                    r.sip_dispatch_rule_id: r.name
                    for r in (
                        await lk.sip.list_dispatch_rule(api.ListSIPDispatchRuleRequest())
                    ).items
                }
            )
            for ip in SOURCES:
                callers[ip] = await Caller.open(ip, ("127.0.0.1", sb.sip_port))
            out: list[tuple[Case, Seen]] = []
            for batch in batches(cases):
                out.extend(zip(batch, await _run_batch(lk, callers, batch, names), strict=True))
            return out
        finally:
            for c in callers.values():
                c.close()
            await lk.aclose()

    results = asyncio.run(asyncio.wait_for(main(), timeout=N_CALLS * 1.0))
    assert len(results) >= 500
    wrong = []
    for case, seen in results:
        want = expected(case.predicted)
        got = (seen.outcome, seen.trunk, seen.rule)
        # A call that joins a room shows its trunk and rule; the others show only how
        # they end (the sandbox's trunk choice is not visible without a participant).
        if want[0] != "room":
            want, got = (want[0], None, None), (got[0], None, None)
        ok = want == got
        if ok and seen.room is not None and case.predicted.room_name is not None:
            ok = _room_matches(case.predicted.room_name, seen.room)
        if not ok:
            c = case.call
            wrong.append(
                f"to={c.to} from={c.from_} src={c.source_ip} pin={c.pin!r}: route says "
                f"{want} room {case.predicted.room_name}, the sandbox did {got} room {seen.room}"
            )
    assert not wrong, f"{len(wrong)} of {len(results)} disagree:\n" + "\n".join(wrong[:25])
