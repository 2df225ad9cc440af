"""A LiveKit-compatible server for tests and demos.

Run it with ``sipctl sandbox`` or ``python -m sipctl.sandbox``.
It speaks livekit-server's Twirp API (``/twirp/livekit.SIP/*``, ``/twirp/livekit.RoomService/*``,
``/twirp/livekit.AgentDispatchService/*``) closely enough for the official ``livekit-api``
SDK and the Node server SDK, places real SIP calls and, with ``--sip-port``, answers them.

Modules: ``server`` (aiohttp app, routing, admin API), ``twirp`` (codecs, error bodies),
``auth`` (JWT and grants), ``validation`` (protocol's request rules), ``sip_service`` and
``room_service`` (handlers), ``store`` (trunks and rules, ``--data-dir`` persistence),
``rooms`` (rooms and participants), ``faults`` (fault injection), ``cli`` (the command),
``bridge`` + ``outbound`` + ``media`` + ``sip`` (the SIP user agent behind
CreateSIPParticipant: headers, codecs, encryption, media timeouts), ``inbound`` +
``dispatch`` (inbound SIP: trunk and dispatch-rule selection, the call),
``agent_dispatch_service`` (ListDispatch), ``rtc`` (real-time rooms), ``provider`` (a
Kamailio + SIPp stand-in for a carrier, for tests).

Admin API for tests, loopback clients only, no token: ``GET /_sandbox/ready``,
``GET|POST|DELETE /_sandbox/faults`` (see ``faults``), ``GET /_sandbox/state`` (everything
stored, passwords included), ``POST /_sandbox/reset``, ``POST /_sandbox/flush``,
``POST /_sandbox/route`` (the inbound routing decision, without SIP),
``POST /_sandbox/subscribe`` (answer a ringing inbound call, as a subscriber would).
"""
