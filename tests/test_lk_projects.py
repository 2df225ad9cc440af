"""Credentials from the lk CLI's project file (--project / LIVEKIT_PROJECT), in the order of
livekit-cli's resolveProject: unit tests of the order, then `sipctl plan` against the
sandbox with an lk-style file in a temporary HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sipctl.errors import SipctlError
from sipctl.livekit.projects import resolve
from tests.fixtures.sandbox import Sandbox
from tests.reconcile_helpers import write_config

SECRET_A = "project-a-secret-0123456789abcdef-zq"
SECRET_B = "project-b-secret-0123456789abcdef-zq"


def lk_file(path: Path, projects: list[dict[str, str]], default: str | None = None) -> Path:
    """An lk CLI config file as `lk project add` writes it (mode 600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"projects": projects}
    if default is not None:
        doc["default_project"] = default
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path


A = {"name": "a", "url": "https://a.example", "api_key": "KEY_A", "api_secret": SECRET_A}
B = {"name": "b", "url": "https://b.example", "api_key": "KEY_B", "api_secret": SECRET_B}
INLINE = {"url": "https://inline.example", "api_key": "KEY_I", "api_secret": "inline-secret"}


def _resolve(path: Path, project: str | None = None, **inline: str) -> Any:
    return resolve(
        project=project,
        project_from_env=False,
        url=inline.get("url"),
        api_key=inline.get("api_key"),
        api_secret=inline.get("api_secret"),
        path=path,
    )


def test_project_wins_over_inline_credentials_and_the_default(tmp_path: Path) -> None:
    path = lk_file(tmp_path / "cli-config.yaml", [A, B], default="a")
    got = _resolve(path, "b", **INLINE)
    assert (got.url, got.api_key, got.api_secret) == ("https://b.example", "KEY_B", SECRET_B)
    assert got.source == f"project 'b' (--project) from {path}"
    assert SECRET_B not in repr(got)


def test_complete_inline_credentials_win_over_the_default(tmp_path: Path) -> None:
    path = lk_file(tmp_path / "cli-config.yaml", [A], default="a")
    got = _resolve(path, **INLINE)
    assert got.url == "https://inline.example" and got.source == "--url, --api-key, --api-secret"
    env = resolve(
        project=None,
        project_from_env=False,
        from_env=frozenset({"url", "api_secret"}),
        path=path,
        **INLINE,
    )
    assert env.source == "LIVEKIT_URL, --api-key, LIVEKIT_API_SECRET"


def test_incomplete_inline_credentials_give_way_to_the_default_project(tmp_path: Path) -> None:
    # as lk: the default project supplies all three, the partial settings are ignored
    path = lk_file(tmp_path / "cli-config.yaml", [A, B], default="b")
    got = _resolve(path, url="https://inline.example")
    assert (got.url, got.api_key) == ("https://b.example", "KEY_B")
    assert "default project 'b'" in got.source and "LIVEKIT_URL ignored" in got.source


def test_nothing_found_leaves_what_there_is(tmp_path: Path) -> None:
    got = _resolve(tmp_path / "missing.yaml", url="https://inline.example")
    assert got.source == "incomplete" and got.url == "https://inline.example"
    no_default = lk_file(tmp_path / "cli-config.yaml", [A])
    assert _resolve(no_default).source == "incomplete"
    dangling = lk_file(tmp_path / "d.yaml", [A], default="gone")
    assert _resolve(dangling).source == "incomplete"


def test_unknown_project_lists_the_names(tmp_path: Path) -> None:
    path = lk_file(tmp_path / "cli-config.yaml", [A, B])
    with pytest.raises(
        SipctlError, match=r"project 'c' \(--project\) not found in .*; available: a, b"
    ):
        _resolve(path, "c")
    with pytest.raises(SipctlError, match="has no projects; add one with `lk project add`"):
        _resolve(tmp_path / "missing.yaml", "c")


def test_names_match_exactly_as_in_lk(tmp_path: Path) -> None:
    path = lk_file(tmp_path / "cli-config.yaml", [A])
    with pytest.raises(SipctlError, match="not found"):
        _resolve(path, "A")


def test_a_file_open_to_others_is_a_warning(tmp_path: Path) -> None:
    path = lk_file(tmp_path / "cli-config.yaml", [A])
    assert _resolve(path, "a").warnings == []
    path.chmod(0o644)
    got = _resolve(path, "a")
    assert got.api_key == "KEY_A"
    (warning,) = got.warnings
    assert warning.startswith(f"warning: {path} should have permissions 600")
    assert "mode 644" in warning and f"chmod 600 {path}" in warning
    # not read at all when complete inline credentials decide (as lk)
    assert _resolve(path, **INLINE).warnings == []


def test_a_broken_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "cli-config.yaml"
    path.write_text("projects:\n  - name: a\n    url: [\n")
    with pytest.raises(SipctlError, match=rf"^{path}:\d+:\d+: .*lk CLI"):
        _resolve(path, "a")
    path.write_text("projects: 3\n")
    with pytest.raises(SipctlError, match="`projects` must be a list"):
        _resolve(path, "a")


# --- against the sandbox ------------------------------------------------------------------

CONFIG = """
    outbound_trunks:
      acme:
        address: sip.acme.example
        numbers: ["+15550100001"]
"""


def _sipctl(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT_", "SIPCTL_"))}
    return subprocess.run(
        [sys.executable, "-m", "sipctl", *args],
        env={**base, "HOME": str(home), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _sandbox_project(sandbox: Sandbox, name: str) -> dict[str, str]:
    return {
        "name": name,
        "url": sandbox.url,
        "api_key": sandbox.api_key,
        "api_secret": sandbox.api_secret,
        "project_id": "p_123",
    }


def test_plan_with_project_from_the_lk_file(sandbox: Sandbox, tmp_path: Path) -> None:
    home = tmp_path / "home"
    wrong = {**A, "name": "staging"}
    path = lk_file(
        home / ".livekit" / "cli-config.yaml", [wrong, _sandbox_project(sandbox, "prod")]
    )
    cfg = write_config(tmp_path / "config", CONFIG)

    res = _sipctl(home, "plan", "--config", str(cfg), "--project", "prod")
    assert res.returncode == 0, res.stderr
    assert "Plan: 1 to create, 0 to update, 0 to delete." in res.stdout
    assert res.stderr == ""

    # LIVEKIT_PROJECT, and it wins over LIVEKIT_* credentials (they point nowhere)
    res = _sipctl(
        home,
        "plan",
        "--config",
        str(cfg),
        "--debug",
        LIVEKIT_PROJECT="prod",
        LIVEKIT_URL="http://127.0.0.1:9",
        LIVEKIT_API_KEY="nokey",
        LIVEKIT_API_SECRET="wrong-secret-wrong-secret-0123456789",
    )
    assert res.returncode == 0, res.stderr
    assert f"LiveKit credentials: project 'prod' (LIVEKIT_PROJECT) from {path}" in res.stderr
    assert sandbox.api_secret not in res.stdout + res.stderr

    # an unknown name: one clear line, exit 1
    res = _sipctl(home, "plan", "--config", str(cfg), "--project", "nope")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert f"project 'nope' (--project) not found in {path}; available: staging, prod" in (
        res.stderr
    )


def test_plan_with_the_default_project_and_a_file_open_to_others(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    path = lk_file(
        home / ".livekit" / "cli-config.yaml", [_sandbox_project(sandbox, "dev")], default="dev"
    )
    path.chmod(0o644)
    cfg = write_config(tmp_path / "config", CONFIG)
    res = _sipctl(home, "plan", "--config", str(cfg), "--debug")
    assert res.returncode == 0, res.stderr
    assert "Plan: 1 to create" in res.stdout
    assert f"warning: {path} should have permissions 600" in res.stderr
    assert f"LiveKit credentials: default project 'dev' of {path}" in res.stderr
    # complete LIVEKIT_* variables come before the default project
    res = _sipctl(
        home, "plan", "--config", str(cfg), "--debug", **{**sandbox.env, "LIVEKIT_URL": sandbox.url}
    )
    assert res.returncode == 0, res.stderr
    assert "LiveKit credentials: LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET" in res.stderr
    assert "should have permissions" not in res.stderr
