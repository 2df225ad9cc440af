"""Fault injection for the sandbox's Twirp endpoints (off by default).

Set by CLI flags or ``POST /_sandbox/faults`` with JSON (every key optional)::

    {"latency_ms": 50,
     "errors": [{"method": "CreateSIPOutboundTrunk", "rate": 0.5, "code": "unavailable",
                 "when": "before" | "after", "msg": "..."}],
     "reset_connection_rate": 0.1,
     "garbage": {"method": "*", "kind": "garbage" | "truncated" | "html" | "empty",
                 "rate": 1},
     "bad_answers": {"method": "*", "kind": "unknown_enum" | "missing_fields", "rate": 1},
     "stop_after": 10,
     "seed": 42}

``method`` is a Twirp method name (``ListSIPOutboundTrunk``) or ``*``. ``garbage`` and
``bad_answers`` also take lists. Order for one request: latency, connection reset, errors
"before" (nothing stored), the handler, errors "after" (stored, then an error answered, as
when a reply is lost), garbage ("garbage"/"html"/"empty" replace the answer without running the
handler; "empty" is a 200 with no body, which protobuf reads as a message with every field
unset, as it sometimes reads random bytes; "truncated" runs it and cuts its answer), bad
answers (mutate the real answer).
Rolls use one RNG, seeded by ``seed`` for reproducible runs.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from google.protobuf.message import Message

from sipctl.sandbox.errors import HTTP_STATUS

GARBAGE_KINDS = ("garbage", "truncated", "html", "empty")
BAD_ANSWER_KINDS = ("unknown_enum", "missing_fields")
UNKNOWN_ENUM = 99
# Identity and name fields a client relies on; "missing_fields" clears them.
_REQUIRED_FIELDS = (
    "sip_trunk_id",
    "sip_dispatch_rule_id",
    "name",
    "participant_id",
    "participant_identity",
    "sip_call_id",
    "sid",
    "identity",
)


class FaultConfigError(ValueError):
    pass


@dataclass
class ErrorRule:
    method: str = "*"
    rate: float = 1.0
    code: str = "unavailable"
    when: str = "before"
    msg: str = "injected fault"


@dataclass
class GarbageRule:
    method: str = "*"
    kind: str = "garbage"
    rate: float = 1.0


@dataclass
class BadAnswerRule:
    method: str = "*"
    kind: str = "unknown_enum"
    rate: float = 1.0


KindRule = TypeVar("KindRule", GarbageRule, BadAnswerRule)


@dataclass
class FaultConfig:
    latency_ms: float = 0.0
    errors: list[ErrorRule] = field(default_factory=list)
    reset_connection_rate: float = 0.0
    garbage: list[GarbageRule] = field(default_factory=list)
    bad_answers: list[BadAnswerRule] = field(default_factory=list)
    stop_after: int | None = None
    seed: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _rate(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise FaultConfigError(f"{what}: rate must be a number between 0 and 1")
    return float(value)


def _str(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise FaultConfigError(f"{what} must be a non-empty string")
    return value


def _items(value: object, what: str) -> list[dict[str, Any]]:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, dict):
            raise FaultConfigError(f"{what} must be an object or a list of objects")
    return items  # type: ignore[return-value]


def _known(obj: dict[str, Any], keys: set[str], what: str) -> None:
    unknown = set(obj) - keys
    if unknown:
        raise FaultConfigError(f"{what}: unknown keys {sorted(unknown)}")


def _kind_rules(
    data: dict[str, Any], key: str, rule: type[KindRule], kinds: tuple[str, ...]
) -> list[KindRule]:
    """``garbage`` or ``bad_answers``: rules of a method, a kind (one of ``kinds``) and a
    rate; keys left out take the rule's defaults."""
    default = rule()
    rules: list[KindRule] = []
    for raw in _items(data.get(key, []), key):
        _known(raw, {"method", "kind", "rate"}, key)
        r = rule(
            method=_str(raw.get("method", default.method), f"{key}.method"),
            kind=_str(raw.get("kind", default.kind), f"{key}.kind"),
            rate=_rate(raw.get("rate", default.rate), key),
        )
        if r.kind not in kinds:
            raise FaultConfigError(f"{key}.kind must be one of {', '.join(kinds)}")
        rules.append(r)
    return rules


def parse_config(data: object) -> FaultConfig:
    """Validate the admin endpoint's JSON; raises FaultConfigError with a readable text."""
    if not isinstance(data, dict):
        raise FaultConfigError("fault config must be a JSON object")
    _known(
        data,
        {"latency_ms", "errors", "reset_connection_rate", "garbage", "bad_answers"}
        | {"stop_after", "seed"},
        "faults",
    )
    cfg = FaultConfig()
    latency = data.get("latency_ms", 0)
    if isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0:
        raise FaultConfigError("latency_ms must be a non-negative number")
    cfg.latency_ms = float(latency)
    for raw in _items(data.get("errors", []), "errors"):
        _known(raw, {"method", "rate", "code", "when", "msg"}, "errors[]")
        rule = ErrorRule(
            method=_str(raw.get("method", "*"), "errors[].method"),
            rate=_rate(raw.get("rate", 1.0), "errors[]"),
            code=_str(raw.get("code", "unavailable"), "errors[].code"),
            when=_str(raw.get("when", "before"), "errors[].when"),
            msg=str(raw.get("msg", "injected fault")),
        )
        if rule.code not in HTTP_STATUS:
            raise FaultConfigError(f"errors[].code: unknown twirp code {rule.code!r}")
        if rule.when not in ("before", "after"):
            raise FaultConfigError("errors[].when must be 'before' or 'after'")
        cfg.errors.append(rule)
    cfg.reset_connection_rate = _rate(data.get("reset_connection_rate", 0), "reset_connection")
    cfg.garbage = _kind_rules(data, "garbage", GarbageRule, GARBAGE_KINDS)
    cfg.bad_answers = _kind_rules(data, "bad_answers", BadAnswerRule, BAD_ANSWER_KINDS)
    for key in ("stop_after", "seed"):
        value = data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise FaultConfigError(f"{key} must be an integer")
    cfg.stop_after = data.get("stop_after")
    if cfg.stop_after is not None and cfg.stop_after < 0:
        raise FaultConfigError("stop_after must be >= 0")
    cfg.seed = data.get("seed")
    return cfg


def parse_error_rate(spec: str) -> ErrorRule:
    """CLI form ``METHOD=RATE[:CODE[:before|after]]``."""
    method, sep, rest = spec.partition("=")
    if not sep or not method:
        raise FaultConfigError(f"expected METHOD=RATE[:CODE[:before|after]], got {spec!r}")
    parts = rest.split(":")
    if len(parts) > 3:
        raise FaultConfigError(f"too many ':' in {spec!r}")
    try:
        rate = float(parts[0])
    except ValueError:
        raise FaultConfigError(f"bad rate in {spec!r}") from None
    raw: dict[str, Any] = {"method": method, "rate": rate}
    if len(parts) > 1:
        raw["code"] = parts[1]
    if len(parts) > 2:
        raw["when"] = parts[2]
    return parse_config({"errors": [raw]}).errors[0]


def _matches(rule_method: str, method: str) -> bool:
    return rule_method in ("*", method)


class Faults:
    """The active configuration plus its RNG and the request counter for ``stop_after``."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self.config = FaultConfig()
        self.rng = random.Random()
        self.twirp_requests = 0
        self.set(config or FaultConfig())

    def set(self, config: FaultConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.twirp_requests = 0

    def clear(self) -> None:
        self.set(FaultConfig())

    def _roll(self, rate: float) -> bool:
        if rate <= 0:
            return False
        return rate >= 1 or self.rng.random() < rate

    def count_request(self) -> bool:
        """Count a Twirp request; False when it is past ``stop_after`` (refuse it)."""
        self.twirp_requests += 1
        limit = self.config.stop_after
        return limit is None or self.twirp_requests <= limit

    def stop_reached(self) -> bool:
        limit = self.config.stop_after
        return limit is not None and self.twirp_requests >= limit

    def reset_connection(self) -> bool:
        return self._roll(self.config.reset_connection_rate)

    def error(self, method: str, when: str) -> ErrorRule | None:
        for rule in self.config.errors:
            if rule.when == when and _matches(rule.method, method) and self._roll(rule.rate):
                return rule
        return None

    def garbage(self, method: str, after: bool) -> GarbageRule | None:
        for rule in self.config.garbage:
            if (rule.kind == "truncated") != after or not _matches(rule.method, method):
                continue
            if self._roll(rule.rate):
                return rule
        return None

    def bad_answer(self, method: str) -> BadAnswerRule | None:
        for rule in self.config.bad_answers:
            if _matches(rule.method, method) and self._roll(rule.rate):
                return rule
        return None

    def garbage_bytes(self, n: int = 64) -> bytes:
        # A leading 0 is field number 0, which no protobuf reader accepts, and no JSON: random
        # bytes alone read as a valid message about once in a thousand ("empty" is that case).
        return b"\x00" + bytes(self.rng.getrandbits(8) for _ in range(n - 1))


HTML_BODY = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)


def _resources(msg: Message) -> list[Message]:
    """The resource messages inside an answer: items of a list, the trunk of a Get, or it."""
    fields = msg.DESCRIPTOR.fields_by_name
    for name in ("items", "rooms", "participants"):
        if name in fields:
            return list(getattr(msg, name))
    if "trunk" in fields and msg.HasField("trunk"):
        return [msg.trunk]  # type: ignore[attr-defined]
    return [msg]


def spoil(msg: Message, kind: str) -> None:
    """Make a real answer bad in place: unknown enum values, or identity fields dropped."""
    for res in _resources(msg):
        for f in res.DESCRIPTOR.fields:
            if kind == "unknown_enum":
                if f.enum_type is not None and not f.is_repeated and f.containing_oneof is None:
                    setattr(res, f.name, UNKNOWN_ENUM)
            elif f.name in _REQUIRED_FIELDS:
                res.ClearField(f.name)
