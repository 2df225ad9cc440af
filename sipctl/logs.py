"""Logging set-up: debug logs on stderr, with every known secret value redacted."""

from __future__ import annotations

import logging
import sys

_SECRETS: set[str] = set()
REDACTED = "(sensitive value)"


def register_secret(value: str) -> None:
    """Never let ``value`` reach a log line, even through a third-party library."""
    if value and len(value) >= 3:
        _SECRETS.add(value)


def redact(text: str) -> str:
    for s in sorted(_SECRETS, key=len, reverse=True):
        if s in text:
            text = text.replace(s, REDACTED)
    return text


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    if debug:
        # aiohttp/asyncio chatter is not what a sipctl user debugs
        logging.getLogger("asyncio").setLevel(logging.INFO)
