"""SIP over TLS (issue #14 item 10): LiveKit dials TLS, the provider has a TLS listener.

Sources: livekit/sip pkg/sip/types.go URI.GetPort (5061 for TLS), client.go
setUriTransport (``;transport=tls``), pkg/sip/tls.go ConfigureTLS (the chain must verify
against the trusted roots, the name is not checked; Go reads SSL_CERT_FILE for the
roots). The provider's TLS listener is Kamailio's tls module (kamailio-tls-modules),
certificates made by the launcher.
"""

from __future__ import annotations

import pytest
from livekit import api
from livekit.protocol.room import ListParticipantsRequest
from livekit.protocol.sip import SIPTransport

from sipctl.sandbox.provider import Provider
from tests.fixtures.sandbox import SandboxFactory
from tests.sandbox.test_calls_e2e import dial, make_trunk

pytestmark = pytest.mark.sip


async def test_tls_trunk_places_a_call(
    tls_provider: Provider, sandbox_factory: SandboxFactory
) -> None:
    sb = sandbox_factory(env={"SSL_CERT_FILE": str(tls_provider.ca_file)})
    async with api.LiveKitAPI(sb.url, sb.api_key, sb.api_secret) as lk:
        trunk = await make_trunk(lk, tls_provider, address=tls_provider.tls_address)
        await lk.sip.update_outbound_trunk_fields(trunk, transport=SIPTransport.SIP_TRANSPORT_TLS)
        info = await lk.sip.create_sip_participant(dial(trunk, "answer"))
        ps = (await lk.room.list_participants(ListParticipantsRequest(room="e2e"))).participants
        assert ps[0].attributes["sip.callStatus"] == "active"
        assert info.sip_call_id
    log = tls_provider.log_tail("kamailio.log", 400)
    assert "/tls" in log or "tls" in log.lower()


async def test_tls_without_the_ca_fails(
    tls_provider: Provider, sandbox_factory: SandboxFactory
) -> None:
    sb = sandbox_factory(env={"SSL_CERT_FILE": "/nonexistent-ca.pem"})
    async with api.LiveKitAPI(sb.url, sb.api_key, sb.api_secret) as lk:
        trunk = await make_trunk(lk, tls_provider, address=tls_provider.tls_address)
        await lk.sip.update_outbound_trunk_fields(trunk, transport=SIPTransport.SIP_TRANSPORT_TLS)
        with pytest.raises(api.TwirpError) as e:
            await lk.sip.create_sip_participant(dial(trunk, "answer"))
        assert e.value.code == "failed_precondition"
        assert "certificate" in e.value.message.lower()
