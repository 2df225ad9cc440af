"""The one mapping between protobufs and models, both ways."""

from __future__ import annotations

from livekit.protocol import egress as egress_pb
from livekit.protocol import room
from livekit.protocol import sip as pb

from sipctl.canonical import canonical
from sipctl.livekit import mapping
from sipctl.ownership import Marker
from tests.reconcile_helpers import in_model, out_model, rule_model


def test_outbound_round_trip() -> None:
    model = out_model(
        transport="tls",
        numbers=["+15550100001", "+15550100002"],
        auth={"username": "u", "password": "pw-xyz"},
        destination_country="US",
        from_host="from.example.com",
        headers={"X-A": "1"},
        headers_to_attributes={"X-B": "b"},
        attributes_to_headers={"c": "X-C"},
        include_headers="x_headers",
        media={"codecs": ["PCMU/8000", "opus"], "encryption": "allow", "media_timeout": "15s"},
        metadata={"team": "voice"},
    )
    info = mapping.to_proto(
        "outbound_trunk", "acme", model, mapping.metadata_for(model, Marker()), rid="ST_1"
    )
    assert info.transport == pb.SIP_TRANSPORT_TLS
    assert info.auth_password == "pw-xyz"
    assert info.media.media_timeout.seconds == 15
    assert info.media_encryption == pb.SIP_MEDIA_ENCRYPT_ALLOW
    back = mapping.from_proto("outbound_trunk", info)
    assert (back.id, back.name, back.password, back.error) == ("ST_1", "acme", "pw-xyz", None)
    assert back.marker == Marker()
    assert back.model is not None
    assert canonical("outbound_trunk", back.model) == canonical("outbound_trunk", model)


def test_inbound_round_trip() -> None:
    model = in_model(
        allowed_addresses=["10.0.0.0/8"],
        allowed_numbers=["+15550300001"],
        auth={"username": "in", "password": "pw", "realm": "example.com"},
        ringing_timeout="20s",
        max_call_duration="1h",
        krisp_enabled=True,
    )
    info = mapping.to_proto("inbound_trunk", "office", model, "", rid="ST_2")
    back = mapping.from_proto("inbound_trunk", info)
    assert back.model is not None
    assert canonical("inbound_trunk", back.model) == canonical("inbound_trunk", model)


def test_dispatch_round_trip_maps_trunk_ids_to_names() -> None:
    model = rule_model(
        trunks=["office"], numbers=["+15550200001"], attributes={"a": "b"}, room_preset="p"
    )
    info = mapping.to_proto(
        "dispatch_rule", "r", model, "", {"office": "ST_office"}.__getitem__, "SDR_1"
    )
    assert list(info.trunk_ids) == ["ST_office"]
    back = mapping.from_proto("dispatch_rule", info, {"ST_office": "office"})
    assert back.model is not None
    assert canonical("dispatch_rule", back.model) == canonical("dispatch_rule", model)
    unknown = mapping.from_proto("dispatch_rule", info, {})
    assert unknown.model is not None and unknown.model.trunks == ["ST_office"]  # type: ignore[union-attr]


def test_unmodelled_fields_survive_a_replace() -> None:
    egress = room.RoomEgress(tracks=egress_pb.AutoTrackEgress(filepath="calls/{room}"))
    live = pb.SIPDispatchRuleInfo(
        sip_dispatch_rule_id="SDR_1", room_config=room.RoomConfiguration(egress=egress)
    )
    target = pb.SIPDispatchRuleInfo(room_config=room.RoomConfiguration(name="cfg"))
    mapping.carry_unmodelled("dispatch_rule", target, live)
    assert target.room_config.egress.tracks.filepath == "calls/{room}"
    assert target.room_config.name == "cfg"


def test_room_config_round_trip() -> None:
    model = rule_model(
        room_config={
            "agents": [{"agent_name": "receptionist", "metadata": '{"lang":"en"}'}],
            "max_participants": 3,
            "empty_timeout": "5m",
            "departure_timeout": "20s",
            "metadata": "room",
            "min_playout_delay": "100ms",
            "max_playout_delay": "2s",
            "sync_streams": True,
        }
    )
    info = mapping.to_proto("dispatch_rule", "r", model, "", rid="SDR_1")
    assert info.room_config.empty_timeout == 300 and info.room_config.max_playout_delay == 2000
    assert info.room_config.agents[0].agent_name == "receptionist"
    back = mapping.from_proto("dispatch_rule", info)
    assert back.model is not None
    assert canonical("dispatch_rule", back.model) == canonical("dispatch_rule", model)


def test_live_values_the_config_would_reject_are_kept() -> None:
    info = pb.SIPOutboundTrunkInfo(
        sip_trunk_id="ST_1", name="odd", address="sip:bad@x", numbers=["abc"]
    )
    res = mapping.from_proto("outbound_trunk", info)
    assert res.error is None and res.model is not None
    assert res.model.address == "sip:bad@x"  # type: ignore[union-attr]


def test_unknown_enum_and_non_json_metadata() -> None:
    info = pb.SIPInboundTrunkInfo(
        sip_trunk_id="ST_1", name="x", numbers=["+1555"], metadata="plain text"
    )
    info.include_headers = 7  # type: ignore[assignment]
    res = mapping.from_proto("inbound_trunk", info)
    assert res.model is None
    assert res.error == (
        "LiveKit returned inbound trunk 'x' (ST_1) that sipctl cannot read: unknown "
        "include_headers value 7"
    )
    assert res.marker is None
