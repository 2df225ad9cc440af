"""``audio:`` on test calls: the YAML contract, and the extra it needs."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from sipctl.cli import cli

ROOT = Path(__file__).resolve().parent.parent
TRUNK = """outbound_trunks:
  lab:
    address: sip.example.com
    numbers: ["+15550100000"]
"""
CALL = """test_calls:
  milliwatt:
    trunk: lab
    to: "+15550800001"
    hold: 5s
    audio:
{audio}
"""
# Runs sipctl with the real-time SDK made unimportable, as in a base install.
WITHOUT_SDK = (
    "import sys; sys.modules['livekit.rtc'] = None; sys.modules['aiortc'] = None\n"
    "from sipctl.cli import main; sys.argv = ['sipctl', *sys.argv[1:]]; main()"
)


def write(tmp_path: Path, audio: str) -> Path:
    (tmp_path / "sip.yaml").write_text(TRUNK + CALL.format(audio=audio))
    return tmp_path


def validate(config: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", "--config", str(config)])
    return result.exit_code, result.output


def test_defaults_and_fields(tmp_path: Path) -> None:
    from sipctl.config import load_config

    cfg = load_config(write(tmp_path, "      expect: tone"))
    audio = cfg.test_calls["milliwatt"].audio
    assert audio is not None
    assert (audio.expect, audio.tone_hz, audio.min_active) == ("tone", 1004.0, 0.5)
    cfg = load_config(
        write(tmp_path, "      expect: tone\n      frequency: 2600\n      min_active: 80%")
    )
    audio = cfg.test_calls["milliwatt"].audio
    assert audio is not None and (audio.tone_hz, audio.min_active) == (2600.0, 0.8)


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        ("      expect: music", "milliwatt.audio.expect"),
        ("      expect: sound\n      min_active: 150%", "must be more than 0% and at most 100%"),
        ("      expect: sound\n      min_active: half", "must be a percentage like 50%"),
        ("      expect: echo\n      frequency: 1004", "frequency applies to expect: tone only"),
    ],
)
def test_bad_audio_fields_name_the_field(tmp_path: Path, audio: str, message: str) -> None:
    code, out = validate(write(tmp_path, audio))
    assert code == 1
    assert message in out
    assert "sip.yaml:" in out and "Traceback" not in out


def test_validate_without_the_extra_names_the_install_command(tmp_path: Path) -> None:
    config = write(tmp_path, "      expect: echo")
    res = subprocess.run(
        [sys.executable, "-c", WITHOUT_SDK, "validate", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 1, res.stdout + res.stderr
    assert "pip install 'sipctl[audio]'" in res.stderr
    assert "milliwatt.audio" in res.stderr and "Traceback" not in res.stderr
    # the same config without audio: fine without the extra
    (config / "sip.yaml").write_text(TRUNK)
    res = subprocess.run(
        [sys.executable, "-c", WITHOUT_SDK, "validate", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr


def test_the_base_install_does_not_need_the_real_time_sdk() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"]).lower()
    assert "aiortc" not in base
    assert not any(
        d.split(">")[0].split("=")[0].strip() == "livekit" for d in project["dependencies"]
    )
    audio = " ".join(project["optional-dependencies"]["audio"])
    assert "livekit>=" in audio and "aiortc" in audio
