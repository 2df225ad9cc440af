"""Where and how to reach LiveKit: the URL and the API key pair, and where they come from
(options, environment, or a project of the lk CLI: ``sipctl.livekit.projects``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sipctl.errors import SipctlError
from sipctl.livekit.projects import resolve

log = logging.getLogger("sipctl")


@dataclass(frozen=True)
class Connection:
    url: str
    api_key: str
    api_secret: str

    def __repr__(self) -> str:
        return f"Connection(url={self.url!r}, api_key={self.api_key!r}, api_secret='***')"

    @classmethod
    def resolve(
        cls,
        url: str | None,
        key: str | None,
        secret: str | None,
        project: str | None = None,
        from_env: frozenset[str] = frozenset(),
    ) -> tuple[Connection, list[str]]:
        """The connection the options, environment or lk project give, and warnings to
        show; a clear error naming what is missing."""
        found = resolve(
            project=project,
            project_from_env="project" in from_env,
            url=url,
            api_key=key,
            api_secret=secret,
            from_env=from_env,
        )
        url, key, secret = found.url, found.api_key, found.api_secret
        missing = [
            name
            for name, value in (
                ("LIVEKIT_URL (--url)", url),
                ("LIVEKIT_API_KEY (--api-key)", key),
                ("LIVEKIT_API_SECRET (--api-secret)", secret),
            )
            if not value
        ]
        if missing and found.source != "incomplete":
            raise SipctlError(f"not connected: {found.source} has no {', '.join(missing)}")
        if missing:
            raise SipctlError(
                f"not connected: set {', '.join(missing)}, or name a project of the lk CLI "
                "with --project NAME (LIVEKIT_PROJECT); for a local try-out run "
                "`sipctl sandbox` and use http://127.0.0.1:7880 with devkey/secret"
            )
        assert url and key and secret
        url = url.rstrip("/")  # a trailing "/" changes nothing (saved plans included)
        log.debug("LiveKit credentials: %s (url %s, api key %s)", found.source, url, key)
        return cls(url, key, secret), found.warnings
