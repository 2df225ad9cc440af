"""Test calls: what to dial (or expect to arrive) and how to judge it."""

from __future__ import annotations

import importlib.util
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from sipctl.models.base import (
    DIGITS,
    E164,
    SIP_USER,
    WAITED_CALL_BUDGET,
    Duration,
    Strict,
)
from sipctl.schedule import Schedule


class ExpectStatus(Strict):
    sip_status: int = Field(ge=300, le=699)


class ExpectRingsOut(Strict):
    """The number rings and nobody answers within the ring window (sipctl stops it)."""

    rings_out: Literal[True]


# The real-time SDK comes with the audio extra; the base install stays free of it.
AUDIO_INSTALL = "pip install 'sipctl[audio]'"


def _rtc_sdk_installed() -> bool:
    try:
        return importlib.util.find_spec("livekit.rtc") is not None
    except (ImportError, ValueError):
        return False


def _share(value: object) -> float:
    """``50%`` or a fraction (0.5)."""
    if isinstance(value, str):
        text = value.strip()
        if not text.endswith("%"):
            raise ValueError(f"must be a percentage like 50% (got {value!r})")
        try:
            number = float(text[:-1])
        except ValueError:
            raise ValueError(f"must be a percentage like 50% (got {value!r})") from None
        value = number / 100
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a percentage like 50% (got {value!r})")
    if not 0 < value <= 1:
        raise ValueError("must be more than 0% and at most 100%")
    return float(value)


Share = Annotated[
    float,
    BeforeValidator(_share),
    PlainSerializer(lambda v: f"{v * 100:g}%", return_type=str),
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "string", "pattern": r"^\d+(\.\d+)?%$"},
                {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            ],
            "description": "A share: 50% (or 0.5).",
        }
    ),
]


class AudioCheck(Strict):
    """What a test call must hear in the room (sipctl.audio judges it; needs the audio extra).

    ``tone``: ``frequency`` dominant; ``sound``: anything above silence; ``echo``: sipctl's
    own signal back from the far end (an echo line), with the round-trip delay. Each for
    at least ``min_active`` of the time sipctl was subscribed.
    """

    expect: Literal["tone", "sound", "echo"]
    frequency: float | None = Field(default=None, gt=0, lt=4000)  # G.711 carries < 4 kHz
    min_active: Share = 0.5

    @model_validator(mode="after")
    def _check(self) -> AudioCheck:
        if self.frequency is not None and self.expect != "tone":
            raise ValueError("frequency applies to expect: tone only")
        if not _rtc_sdk_installed():
            raise ValueError(f"audio checks need the LiveKit real-time SDK: {AUDIO_INSTALL}")
        return self

    @property
    def tone_hz(self) -> float:
        return 1004.0 if self.frequency is None else self.frequency  # the milliwatt tone


class Arrive(Strict):
    """How an inbound test call must come back into LiveKit (issue #15): through this
    declared inbound trunk and dispatch rule, within ``within`` of being placed."""

    inbound_trunk: str
    dispatch_rule: str
    within: Duration = 15.0

    @field_validator("within")
    @classmethod
    def _within(cls, v: float) -> float:
        if not 0 < v < WAITED_CALL_BUDGET:
            raise ValueError(f"must be more than 0s and less than {WAITED_CALL_BUDGET:g}s")
        return v


# An arrive call is judged on arrival, never answered (LiveKit rings an inbound call until
# someone in the room subscribes: livekit/sip inbound.go waitSubscribe): these do not apply.
NOT_WITH_ARRIVE = ("expect", "answer_within", "hold", "dtmf", "audio")


class TestCall(Strict):
    """A test call: dial ``to`` through ``trunk`` and judge the outcome against ``expect``."""

    __test__ = False  # not a pytest test class

    trunk: str
    to: str
    from_: str | None = Field(default=None, alias="from")
    expect: Literal["answered"] | ExpectStatus | ExpectRingsOut = "answered"
    answer_within: Duration | None = None
    degraded_after: Duration | None = None
    ringing_timeout: Duration = 30.0
    hold: Duration = 2.0
    dtmf: str = ""
    schedule: str | None = None
    verify_on_apply: bool = True
    retries: int = Field(default=0, ge=0, le=10)
    tags: list[str] = Field(default_factory=list)
    audio: AudioCheck | None = None
    arrive: Arrive | None = None

    @field_validator("to")
    @classmethod
    def _to(cls, v: str) -> str:
        if E164.match(v) or DIGITS.match(v):
            return v
        if v.lower().startswith(("sip:", "sips:")) or "@" in v:
            raise ValueError(f"must be a phone number or SIP user, not a SIP URI (got {v!r})")
        if not SIP_USER.match(v):
            raise ValueError(f"must be an E.164 number or a SIP user (got {v!r})")
        return v

    @field_validator("dtmf")
    @classmethod
    def _dtmf(cls, v: str) -> str:
        if any(c not in "0123456789*#ABCDabcdw" for c in v):
            raise ValueError("may only contain 0-9 * # A-D and w (a 0.5 s pause)")
        return v

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str | None) -> str | None:
        return None if v is None else Schedule.parse(v)

    @field_validator("ringing_timeout")
    @classmethod
    def _ringing(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be positive")
        return v

    @model_validator(mode="after")
    def _arrive(self) -> TestCall:
        if self.arrive is not None:
            clash = [f for f in NOT_WITH_ARRIVE if f in self.model_fields_set]
            if clash:
                raise ValueError(
                    f"{' and '.join(clash)} cannot be used with arrive: an arrive call is "
                    "judged on arrival and never answered"
                )
        return self

    @model_validator(mode="after")
    def _budget(self) -> TestCall:
        if self.ringing_timeout + self.hold >= WAITED_CALL_BUDGET:
            raise ValueError(
                f"ringing_timeout + hold must stay under LiveKit's {WAITED_CALL_BUDGET:g}s "
                f"budget for a waited call (got {self.ringing_timeout:g}s + {self.hold:g}s)"
            )
        if self.answer_within is not None and self.answer_within > self.ringing_timeout:
            raise ValueError("answer_within must not exceed ringing_timeout")
        if self.audio is not None and self.audio.expect == "echo" and self.hold < 3:
            # sipctl.audio.MIN_ECHO_SECONDS: less and a shifted stretch of the pattern fits
            raise ValueError(f"audio expect: echo needs a hold of at least 3s (got {self.hold:g}s)")
        if self.degraded_after is not None and self.degraded_after >= self.effective_answer_within:
            raise ValueError("degraded_after must be less than answer_within")
        return self

    @property
    def effective_answer_within(self) -> float:
        return self.answer_within if self.answer_within is not None else self.ringing_timeout

    @property
    def expected_status(self) -> int | None:
        return self.expect.sip_status if isinstance(self.expect, ExpectStatus) else None

    @property
    def rings_out(self) -> bool:
        return isinstance(self.expect, ExpectRingsOut)


class TestCallDefaults(Strict):
    """Defaults applied to every test call that does not set the field itself."""

    __test__ = False  # not a pytest test class

    ringing_timeout: Duration | None = None
    hold: Duration | None = None
    answer_within: Duration | None = None
    degraded_after: Duration | None = None
    retries: int | None = Field(default=None, ge=0, le=10)
    verify_on_apply: bool | None = None
