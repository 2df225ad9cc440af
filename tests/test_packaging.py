"""The release: LICENSE, CHANGELOG, version, and the container image.

No container engine runs on the project's machines, so the Dockerfile is checked in two
ways: its structure (stages, user, entrypoint, what the final image may contain), and its
commands, run as they are written in a fresh virtual environment standing in for the
image (the build stage's wheel, the final stage's install), after which the installed
CLI must work and nothing of the dev extra may be there.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import sipctl

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


# --- a small Dockerfile reader ---------------------------------------------------------


@dataclass
class Instruction:
    op: str  # upper case: FROM, RUN, COPY, ...
    args: str  # the rest, continuation lines joined


@dataclass
class Stage:
    base: str
    name: str | None
    body: list[Instruction] = field(default_factory=list)

    def all(self, op: str) -> list[Instruction]:
        return [i for i in self.body if i.op == op]


def read_dockerfile(text: str) -> tuple[list[Instruction], list[Stage]]:
    """Instructions before the first FROM (global ARGs) and the stages, in order."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or not stripped:
            continue  # comments (and parser directives) and blank lines
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    assert not pending, "the Dockerfile ends in a line continuation"
    head: list[Instruction] = []
    stages: list[Stage] = []
    for line in logical:
        op, _, rest = line.partition(" ")
        ins = Instruction(op.upper(), re.sub(r"\s+", " ", rest.strip()))
        if ins.op == "FROM":
            words = ins.args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif stages:
            stages[-1].body.append(ins)
        else:
            head.append(ins)
    return head, stages


HEAD, STAGES = read_dockerfile(DOCKERFILE.read_text())
FINAL = STAGES[-1]


def _global_args() -> dict[str, str]:
    out = {}
    for ins in HEAD:
        if ins.op == "ARG":
            name, _, default = ins.args.partition("=")
            out[name] = default
    return out


def _env(stage: Stage) -> dict[str, str]:
    """ENV key=value pairs (the form this Dockerfile uses)."""
    env: dict[str, str] = {}
    for ins in stage.all("ENV"):
        for item in shlex.split(ins.args):
            key, sep, value = item.partition("=")
            assert sep, f"ENV {ins.args}: use the key=value form"
            env[key] = value
    return env


def _run_commands(stage: Stage) -> list[str]:
    """RUN commands without their --mount/--network flags."""
    return [re.sub(r"^(--\S+\s+)+", "", ins.args) for ins in stage.all("RUN")]


# --- structure -------------------------------------------------------------------------


def test_dockerfile_final_image_is_small_python_non_root_with_sipctl_entrypoint() -> None:
    base = FINAL.base.replace("${PYTHON_VERSION}", _global_args().get("PYTHON_VERSION", ""))
    assert re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", base), base
    assert float(base.split(":")[1].split("-")[0]) >= 3.11  # requires-python
    users = FINAL.all("USER")
    assert users, "the image runs as root"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0"), user
    entry = FINAL.all("ENTRYPOINT")
    assert len(entry) == 1 and json.loads(entry[0].args) == ["sipctl"]
    assert FINAL.body.index(users[-1]) < FINAL.body.index(entry[0])


def test_dockerfile_final_image_has_no_build_tools_or_dev_extra() -> None:
    text = " ".join(i.args for i in FINAL.body)
    assert "[dev]" not in text and ".[" not in text
    assert not re.search(r"\b(apt-get|apt|gcc|build-essential|make)\b", text)
    assert not re.search(r"pip\S* install[^&]* -e\b", text), "no editable install in the image"
    # nothing from the build context: only the wheel, from the build stage
    assert not FINAL.all("COPY") and not FINAL.all("ADD")
    assert "venv --without-pip" in text  # no pip/setuptools inside sipctl's environment
    builder = STAGES[0]
    for ins in builder.all("COPY"):
        for src in ins.args.split()[:-1]:
            assert (ROOT / src).exists(), f"COPY {src}: not in the repository"


def test_dockerfile_audio_build_argument_selects_the_audio_extra() -> None:
    args = {i.args.partition("=")[0]: i.args.partition("=")[2] for i in FINAL.all("ARG")}
    assert args.get("audio") == "0"
    (install,) = [c for c in _run_commands(FINAL) if " install " in c]
    assert '"$audio"' in install and 'extra="[audio]"' in install


# --- the release files -----------------------------------------------------------------


def test_license_is_the_apache_2_text_and_matches_the_metadata() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text and len(text) > 10_000
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]


def test_changelog_keeps_a_changelog_with_this_version_and_0_1_0() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog")
    assert "keepachangelog.com" in text
    versions = re.findall(r"^## \[([^\]]+)\]", text, flags=re.M)
    assert versions[0] == sipctl.__version__ == "0.2.0"
    assert "0.1.0" in versions
    for section in re.split(r"^## ", text, flags=re.M)[1:]:
        for heading in re.findall(r"^### (.+)$", section, flags=re.M):
            assert heading in {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def test_version_has_one_home() -> None:
    assert "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "sipctl.__version__"}


# --- ./dev ------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--help", "-h", "help"])
def test_dev_help_exits_0_and_names_the_commands(flag: str) -> None:
    proc = subprocess.run(
        [str(ROOT / "dev"), flag], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr
    for command in ("demo", "test", "bench", "setup"):
        assert f"./dev {command}" in proc.stdout
    assert "set -euo" not in proc.stdout


def test_dev_unknown_command_is_a_usage_error() -> None:
    proc = subprocess.run(
        [str(ROOT / "dev"), "bogus"], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 2 and "unknown command 'bogus'" in proc.stderr


# --- the Dockerfile's commands, run ----------------------------------------------------


def _name(requirement: str) -> str:
    """A requirement's project name, normalised (PEP 503)."""
    return re.sub(r"[-_.]+", "-", re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0]).lower()


def _dev_extra_names() -> set[str]:
    """The dev tools; type stubs aside (livekit-protocol itself requires types-protobuf)."""
    dev = PYPROJECT["project"]["optional-dependencies"]["dev"]
    return {_name(req) for req in dev if not _name(req).startswith("types-")}


def _sh(command: str, *, cwd: Path, env: dict[str, str]) -> None:
    proc = subprocess.run(
        ["sh", "-c", command],  # /bin/sh, as RUN uses
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, f"{command}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"


@pytest.mark.integration  # builds a wheel and installs it with pip (PyPI for the dependencies)
def test_dockerfile_commands_build_the_wheel_and_install_a_working_cli(tmp_path: Path) -> None:
    paths = {"/wheels": tmp_path / "wheels", "/opt/sipctl": tmp_path / "image-venv"}

    def here(command: str) -> str:
        for image_path, local in paths.items():
            command = re.sub(re.escape(image_path) + r"(?![\w.-])", str(local), command)
        return command

    # `python` is the base image's interpreter: a Python with pip (the one running the tests)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python").symlink_to(sys.executable)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    base_env["PATH"] = f"{bindir}{os.pathsep}{base_env['PATH']}"

    # build stage: the COPY lines lay out the context, then its RUN builds the wheel
    builder = STAGES[0]
    (workdir,) = [i.args for i in builder.all("WORKDIR")]
    src = tmp_path / "ctx"
    src.mkdir()
    for ins in builder.all("COPY"):
        *sources, dest = ins.args.split()
        target = src / dest.removeprefix(workdir).lstrip("/").removeprefix("./")
        for s in sources:
            if (ROOT / s).is_dir():
                shutil.copytree(ROOT / s, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / s, target / s)
    for command in _run_commands(builder):
        _sh(here(command), cwd=src, env=base_env)
    (wheel,) = paths["/wheels"].glob("sipctl-*.whl")
    assert wheel.name == f"sipctl-{sipctl.__version__}-py3-none-any.whl"

    # final stage, in order: ENV and ARG defaults, then its install RUN (not the useradd
    # one, which would change this machine's users)
    env = dict(base_env)
    install = ""
    for ins in FINAL.body:
        if ins.op == "ENV":
            for key, value in _env(Stage("", None, [ins])).items():
                env[key] = here(value.replace("$PATH", env["PATH"]))
        elif ins.op == "ARG":
            name, _, default = ins.args.partition("=")
            env[name] = default
        elif ins.op == "RUN" and " install " in ins.args:
            assert not install, "one install command"
            install = here(re.sub(r"^(--\S+\s+)+", "", ins.args))
            env.pop("PIP_NO_CACHE_DIR", None)  # here, reuse this machine's pip cache
            _sh(install, cwd=tmp_path, env=env)
            install_env = dict(env)
    assert install
    venv = paths["/opt/sipctl"]
    sipctl_bin = venv / "bin" / "sipctl"
    out = subprocess.run(
        [str(sipctl_bin), "--version"], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == f"sipctl, version {sipctl.__version__}"
    proc = subprocess.run(
        [str(sipctl_bin), "validate", "--config", str(ROOT / "config")],
        capture_output=True,
        text=True,
        env={k: v for k, v in env.items() if not k.startswith(("LIVEKIT_", "SIPCTL_"))},
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Configuration valid:")

    # nothing of the dev extra, and no pip/setuptools inside sipctl's environment
    installed = _installed(venv)
    assert "sipctl" in installed
    assert not installed & _dev_extra_names(), installed & _dev_extra_names()
    assert not installed & {"pip", "setuptools", "wheel", "build"}
    assert not (venv / "bin" / "pip").exists()

    # --build-arg audio=1: the same command adds the audio extra's packages (once the
    # audio issue's extra exists; the structure test checks the argument either way)
    audio = PYPROJECT["project"]["optional-dependencies"].get("audio", [])
    if audio:
        _sh(install, cwd=tmp_path, env={**install_env, "audio": "1"})
        with_audio = _installed(venv)
        for req in audio:
            assert _name(req) in with_audio, f"--build-arg audio=1 did not install {req}"


def _installed(venv: Path) -> set[str]:
    listing = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib.metadata as m;"
            "print('\\n'.join(d.metadata['Name'] for d in m.distributions()))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {_name(n) for n in listing}
