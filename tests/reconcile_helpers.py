"""Small builders for the reconciler's unit tests: live protobufs, live state, configs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from livekit.protocol import sip as pb

from sipctl.config.loader import Config
from sipctl.live import LiveState
from sipctl.livekit.mapping import from_proto
from sipctl.livekit.state import build_state
from sipctl.models import DispatchRule, InboundTrunk, OutboundTrunk, Settings, TestCall
from sipctl.ownership import Marker, render_metadata
from sipctl.secrets import Secret, fingerprint

API_SECRET = "unit-test-api-secret-0123456789abcdef"
PASSWORD = "s3cr3t-Pa55w0rd-zq"
OWNER = "unit"  # the owner of the unit tests' configs and of the resources they mark
SALT = b"unit-salt"  # the salt of the fingerprints the unit tests' markers record


def meta(
    user: dict[str, Any] | None = None, password: str | None = None, managed: bool = True
) -> str:
    """Live metadata: the user's keys plus (when managed) sipctl's marker."""
    if not managed:
        return render_metadata(user or {}, None)
    fp = fingerprint(password, SALT) if password else None
    return render_metadata(user or {}, Marker(auth_fingerprint=fp, owner=OWNER))


def outbound_pb(
    name: str,
    rid: str = "ST_out1",
    *,
    address: str = "sip.example.com",
    numbers: tuple[str, ...] = ("+15550100001",),
    username: str = "",
    password: str = "",
    managed: bool = True,
    user_meta: dict[str, Any] | None = None,
    masked: bool = False,
    **kw: Any,
) -> pb.SIPOutboundTrunkInfo:
    return pb.SIPOutboundTrunkInfo(
        sip_trunk_id=rid,
        name=name,
        metadata=meta(user_meta, password, managed),
        address=address,
        numbers=list(numbers),
        auth_username=username,
        auth_password="" if masked else password,
        **kw,
    )


def inbound_pb(
    name: str,
    rid: str = "ST_in1",
    *,
    numbers: tuple[str, ...] = ("+15550200001",),
    managed: bool = True,
    **kw: Any,
) -> pb.SIPInboundTrunkInfo:
    return pb.SIPInboundTrunkInfo(
        sip_trunk_id=rid, name=name, metadata=meta(None, None, managed), numbers=list(numbers), **kw
    )


def rule_pb(
    name: str,
    rid: str = "SDR_r1",
    *,
    room: str = "support",
    trunk_ids: tuple[str, ...] = (),
    managed: bool = True,
    **kw: Any,
) -> pb.SIPDispatchRuleInfo:
    # sipctl records a rule's ownership on inbound trunks, not in the rule: live() marks
    # the rules made here as managed
    (_MANAGED_RULES.add if managed else _MANAGED_RULES.discard)(rid)
    return pb.SIPDispatchRuleInfo(
        sip_dispatch_rule_id=rid,
        name=name,
        metadata="",
        rule=pb.SIPDispatchRule(dispatch_rule_direct=pb.SIPDispatchRuleDirect(room_name=room)),
        trunk_ids=list(trunk_ids),
        **kw,
    )


def live(
    outbound: tuple[Any, ...] = (),
    inbound: tuple[Any, ...] = (),
    rules: tuple[Any, ...] = (),
    owner: str | None = OWNER,
) -> LiveState:
    state = build_state(list(outbound), list(inbound), [], owner)
    for info in rules:
        res = from_proto("dispatch_rule", info, state.inbound_names)
        if res.marker is None and info.sip_dispatch_rule_id in _MANAGED_RULES:
            res.marker = Marker(owner=owner)
        state.add(res)
    return state


_MANAGED_RULES: set[str] = set()


def out_model(**kw: Any) -> OutboundTrunk:
    data: dict[str, Any] = {"address": "sip.example.com", "numbers": ["+15550100001"]}
    data.update(kw)
    auth = data.get("auth")
    if isinstance(auth, dict) and isinstance(auth.get("password"), str):
        data["auth"] = {**auth, "password": Secret(auth["password"], "${PW}")}
    return OutboundTrunk.model_validate(data)


def in_model(**kw: Any) -> InboundTrunk:
    data: dict[str, Any] = {"numbers": ["+15550200001"]}
    data.update(kw)
    return InboundTrunk.model_validate(data)


def rule_model(room: str = "support", **kw: Any) -> DispatchRule:
    return DispatchRule.model_validate({"rule": {"direct": {"room_name": room}}, **kw})


def config(
    outbound: dict[str, OutboundTrunk] | None = None,
    inbound: dict[str, InboundTrunk] | None = None,
    rules: dict[str, DispatchRule] | None = None,
    settings: dict[str, Any] | None = None,
    test_calls: dict[str, TestCall] | None = None,
) -> Config:
    return Config(
        directory=Path("config"),
        files=[],
        outbound_trunks=outbound or {},
        inbound_trunks=inbound or {},
        dispatch_rules=rules or {},
        test_calls=test_calls or {},
        settings=Settings.model_validate({"owner": OWNER, **(settings or {})}),
    )


# --- integration: the CLI against a sandbox ----------------------------------------------


def sipctl(
    sb: Any,
    config_dir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    input: str | None = None,
) -> Any:
    """Run ``sipctl ARGS --config DIR`` in-process against sandbox ``sb``."""
    from click.testing import CliRunner

    from sipctl.cli import cli

    full_env = {**sb.env, **(env or {})}
    argv = [args[0], "--config", str(config_dir), *args[1:]]
    return CliRunner().invoke(cli, argv, env=full_env, input=input, catch_exceptions=False)


def write_config(directory: Path, text: str, name: str = "sip.yaml") -> Path:
    import textwrap

    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(textwrap.dedent(text))
    return directory
