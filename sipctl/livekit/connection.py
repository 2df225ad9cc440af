"""Where and how to reach LiveKit: the URL and the API key pair."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Connection:
    url: str
    api_key: str
    api_secret: str

    def __repr__(self) -> str:
        return f"Connection(url={self.url!r}, api_key={self.api_key!r}, api_secret='***')"
