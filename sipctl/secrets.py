"""A string that never shows its value: repr, str, format, logging, JSON and pickling."""

from __future__ import annotations

import functools
import hashlib
import hmac
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

MASK = "(sensitive value)"


@functools.lru_cache(maxsize=4096)
def fingerprint(value: str, key: str) -> str:
    """HMAC-SHA256(key, value)[:16]: how sipctl shows and records a secret without it.

    ``key`` is the API secret. Cached: thousands of trunks usually share a few passwords."""
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()[:16]


class Secret:
    """Holds a secret loaded from the environment (or, if allowed, from the YAML).

    ``source`` says where it came from (``${TWILIO_SIP_PASSWORD}``) and is safe to print.
    """

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "") -> None:
        self._value = value
        self.source = source

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def validate(value: object) -> Secret:
            if isinstance(value, Secret):
                return value
            if isinstance(value, str):
                return Secret(value)
            raise ValueError("must be a string")

        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda s: MASK),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "string",
            "description": "A secret: write a ${VARIABLE} reference; the value is read "
            "from the environment at load time.",
        }
