"""Which LiveKit credentials a command uses: flags, ``LIVEKIT_*`` variables, or a project
of the ``lk`` CLI's own file, in ``lk``'s order.

``lk`` keeps its projects in ``$HOME/.livekit/cli-config.yaml`` (livekit-cli
``pkg/config/config.go``: ``CLIConfig`` with ``default_project`` and ``projects[]`` of
``name``/``url``/``api_key``/``api_secret``; ``LoadOrCreate`` warns, and goes on, when the
file is open to group or others, and treats a missing file as one without projects).
The order is that of livekit-cli ``cmd/lk/utils.go`` ``resolveProject``:

1. ``--project NAME`` (sipctl also reads it from ``LIVEKIT_PROJECT``): that project, by
   exact name (``config.LoadProject``), or an error listing the names there are;
2. ``--url``/``--api-key``/``--api-secret`` or ``LIVEKIT_URL``/``_API_KEY``/``_API_SECRET``,
   used only when all three are set;
3. the file's ``default_project`` (``config.LoadDefaultProject``), which then supplies all
   three, as in ``lk``, even when some of step 2's were set.

``lk``'s ``--subdomain``, ``--dev`` and ``livekit.toml`` steps have no sipctl counterpart.
Nothing here prints: the command layer shows the warnings and, with ``--debug``, the source.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sipctl.errors import SipctlError

INLINE = (
    ("url", "LIVEKIT_URL", "--url"),
    ("api_key", "LIVEKIT_API_KEY", "--api-key"),
    ("api_secret", "LIVEKIT_API_SECRET", "--api-secret"),
)


@dataclass(frozen=True)
class Resolved:
    """The credentials found (any may be missing), where they came from, and warnings."""

    url: str | None
    api_key: str | None
    api_secret: str | None
    source: str
    warnings: list[str] = field(default_factory=list)

    def __repr__(self) -> str:  # never the secret
        return f"Resolved(url={self.url!r}, api_key={self.api_key!r}, source={self.source!r})"


def config_path() -> Path:
    """``lk``'s file: Go's ``os.UserHomeDir`` is ``$HOME`` on Unix, as ``~`` is here."""
    return Path(os.path.expanduser("~")) / ".livekit" / "cli-config.yaml"


def _read(path: Path, warnings: list[str]) -> dict[str, Any]:
    """The file's content (empty when it does not exist, as ``LoadOrCreate`` has it)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SipctlError(f"cannot read {path}: {exc.strerror}") from None
    if stat.S_IMODE(mode) & 0o077:
        warnings.append(
            f"warning: {path} should have permissions 600: it holds API secrets and is open "
            f"to others (mode {stat.S_IMODE(mode):03o}); run `chmod 600 {path}`"
        )
    import yaml  # deferred: PyYAML costs start-up, and most runs read no lk config file

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SipctlError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise SipctlError(f"{where}: {problem} (the lk CLI's project file)") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SipctlError(f"{path}: expected a mapping with `projects` (the lk CLI's file)")
    return data


def _projects(data: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    projects = data.get("projects") or []
    if not isinstance(projects, list) or not all(isinstance(p, dict) for p in projects):
        raise SipctlError(f"{path}: `projects` must be a list of name/url/api_key/api_secret")
    return projects


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _from_project(entry: dict[str, Any], source: str, warnings: list[str]) -> Resolved:
    return Resolved(
        _text(entry.get("url")),
        _text(entry.get("api_key")),
        _text(entry.get("api_secret")),
        source,
        warnings,
    )


def resolve(
    *,
    project: str | None,
    project_from_env: bool,
    url: str | None,
    api_key: str | None,
    api_secret: str | None,
    from_env: frozenset[str] = frozenset(),
    path: Path | None = None,
) -> Resolved:
    """Resolve as ``resolveProject`` does. ``from_env`` names the inline settings
    (``url``, ``api_key``, ``api_secret``) that came from ``LIVEKIT_*`` variables."""
    path = path or config_path()
    warnings: list[str] = []

    # 1. an explicit project
    if project:
        via = "LIVEKIT_PROJECT" if project_from_env else "--project"
        projects = _projects(_read(path, warnings), path)
        for entry in projects:
            if entry.get("name") == project:
                return _from_project(entry, f"project {project!r} ({via}) from {path}", warnings)
        names = [str(p.get("name")) for p in projects]
        if not names:
            raise SipctlError(
                f"project {project!r} ({via}) not found: {path} has no projects; add one with "
                "`lk project add` or `lk cloud auth`"
            )
        raise SipctlError(
            f"project {project!r} ({via}) not found in {path}; available: {', '.join(names)}"
        )

    # 2. inline credentials, only when complete
    values = {"url": url, "api_key": api_key, "api_secret": api_secret}
    if all(values.values()):
        shown = [env if name in from_env else flag for name, env, flag in INLINE]
        return Resolved(url, api_key, api_secret, ", ".join(shown), warnings)

    # 3. the file's default project
    data = _read(path, warnings)
    default = data.get("default_project")
    if default:
        for entry in _projects(data, path):
            if entry.get("name") == default:
                partial = [env for name, env, _ in INLINE if values[name]]
                note = f" ({', '.join(partial)} ignored: not all three set)" if partial else ""
                return _from_project(
                    entry, f"default project {default!r} of {path}{note}", warnings
                )

    # nothing complete: what there is, for the caller's "not connected" error
    return Resolved(url, api_key, api_secret, "incomplete", warnings)
