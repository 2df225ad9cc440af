"""Durations as people write them in YAML: ``20s``, ``1m30s``, ``500ms``, ``1h``."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(value: object) -> float:
    """Seconds from ``1m30s`` / ``500ms`` / a plain number of seconds. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"must be a duration such as 20s, 1m30s or 500ms (got {value!r})")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"must not be negative (got {value!r})")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"must be a duration such as 20s, 1m30s or 500ms (got {value!r})")
    text = value.strip()
    pos, total, seen = 0, 0.0, False
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos, seen = m.end(), True
    if not seen or pos != len(text):
        raise ValueError(f"must be a duration such as 20s, 1m30s or 500ms (got {value!r})")
    return total


def format_duration(seconds: float) -> str:
    """The shortest of the accepted spellings: 90 -> '1m30s', 0.5 -> '500ms'."""
    if seconds < 1 and seconds != 0:
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    frac = seconds - whole
    if frac > 1e-9:
        return f"{seconds:g}s"
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    out = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s else "")
    return out or "0s"
