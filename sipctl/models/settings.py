"""Settings and the shape of one config file."""

from __future__ import annotations

import re

from pydantic import (
    Field,
    field_validator,
)

from sipctl.models.base import (
    Duration,
    Strict,
)
from sipctl.models.calls import (
    TestCall,
    TestCallDefaults,
)
from sipctl.models.resources import (
    DispatchRule,
    InboundTrunk,
    OutboundTrunk,
)
from sipctl.schedule import Schedule

OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


class Settings(Strict):
    owner: str | None = None
    allow_literal_secrets: bool = False
    prune: bool = False
    max_update_percent: float = Field(default=30.0, ge=0, le=100)
    max_delete_percent: float = Field(default=30.0, ge=0, le=100)
    safety_min_resources: int = Field(default=10, ge=0)
    parallelism: int = Field(default=8, ge=1, le=256)
    check_parallelism: int = Field(default=4, ge=1, le=256)
    max_calls_per_trunk: int = Field(default=2, ge=1)
    max_calls_per_hour: int = Field(default=120, ge=1)
    failure_threshold: int = Field(default=1, ge=1)
    jitter: Duration = 1.0
    # the SIP header on every probe's INVITE, its value the test call's name
    probe_header: str = Field(default="X-Sipctl-Probe", pattern=r"^[Xx]-[A-Za-z0-9-]+$")
    # check --watch re-plans on this schedule and exports the drift (off when unset)
    drift_schedule: str | None = None
    # LiveKit's SIP bridge ends an answered call that never sent RTP after this long
    # (livekit/sip config media_timeout_initial, 30 s by default): a call LiveKit ends
    # then, without a hangup from the far end, is judged no_media
    media_timeout_initial: Duration = 30.0
    test_call_defaults: TestCallDefaults = Field(default_factory=TestCallDefaults)

    @field_validator("drift_schedule")
    @classmethod
    def _drift_schedule(cls, v: str | None) -> str | None:
        return None if v is None else Schedule.parse(v)

    @field_validator("owner")
    @classmethod
    def _owner(cls, v: str | None) -> str | None:
        if v is not None and not OWNER.match(v):
            raise ValueError(
                "must be a short name of letters, digits, '.', '_' or '-' such as prod or "
                f"staging (got {v!r})"
            )
        return v


class ConfigFile(Strict):
    """One YAML file of the config directory (every section optional)."""

    outbound_trunks: dict[str, OutboundTrunk] = Field(default_factory=dict)
    inbound_trunks: dict[str, InboundTrunk] = Field(default_factory=dict)
    dispatch_rules: dict[str, DispatchRule] = Field(default_factory=dict)
    test_calls: dict[str, TestCall] = Field(default_factory=dict)
    settings: Settings = Field(default_factory=Settings)


SECTIONS = ("outbound_trunks", "inbound_trunks", "dispatch_rules", "test_calls")
