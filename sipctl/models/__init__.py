"""The resource and test-call models shared by the config loader and the LiveKit adapter.

The YAML produces these (desired state); the adapter maps live protobufs to the same
classes (actual state); the diff compares the two. Field names follow LiveKit's
``SIPOutboundTrunkInfo`` / ``SIPInboundTrunkInfo`` / ``SIPDispatchRuleInfo`` except where
YAML reads better (``auth: {username, password}``, ``media.encryption``, enums in lower case).

Each model has one home among ``base``, ``resources``, ``calls`` and ``settings``; this
package is their public name.
"""

from __future__ import annotations

from sipctl.models.base import (
    DIGITS,
    E164,
    SIP_USER,
    WAITED_CALL_BUDGET,
    Duration,
    Encryption,
    IncludeHeaders,
    Metadata,
    PhoneNumber,
    Strict,
    Transport,
    header_map,
    normalize_metadata,
    validate_address,
    validate_number,
)
from sipctl.models.calls import (
    AUDIO_INSTALL,
    NOT_WITH_ARRIVE,
    Arrive,
    AudioCheck,
    ExpectRingsOut,
    ExpectStatus,
    Share,
    TestCall,
    TestCallDefaults,
)
from sipctl.models.resources import (
    AgentDispatch,
    Auth,
    Codec,
    DispatchRule,
    InboundAuth,
    InboundTrunk,
    Media,
    OutboundTrunk,
    Resource,
    RoomConfig,
    Rule,
    RuleCallee,
    RuleDirect,
    RuleIndividual,
)
from sipctl.models.settings import (
    OWNER,
    SECTIONS,
    ConfigFile,
    Settings,
)

__all__ = [
    "AUDIO_INSTALL",
    "DIGITS",
    "E164",
    "NOT_WITH_ARRIVE",
    "OWNER",
    "SECTIONS",
    "SIP_USER",
    "WAITED_CALL_BUDGET",
    "AgentDispatch",
    "Arrive",
    "AudioCheck",
    "Auth",
    "Codec",
    "ConfigFile",
    "DispatchRule",
    "Duration",
    "Encryption",
    "ExpectRingsOut",
    "ExpectStatus",
    "InboundAuth",
    "InboundTrunk",
    "IncludeHeaders",
    "Media",
    "Metadata",
    "OutboundTrunk",
    "PhoneNumber",
    "Resource",
    "RoomConfig",
    "Rule",
    "RuleCallee",
    "RuleDirect",
    "RuleIndividual",
    "Settings",
    "Share",
    "Strict",
    "TestCall",
    "TestCallDefaults",
    "Transport",
    "header_map",
    "normalize_metadata",
    "validate_address",
    "validate_number",
]
