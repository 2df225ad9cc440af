"""`sipctl check` command-line edges (issue #13 item 4): a typo never selects nothing and
passes, --serve never dials without --watch, --list speaks JSON, 130 is documented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_check_command import CALLS, invoke, write_config

NO_LIVEKIT = {"PROV_PASSWORD": "x", "LIVEKIT_URL": "", "LIVEKIT_API_KEY": ""}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tag", "smok"], "no tag 'smok' (did you mean 'smoke'?) in the config"),
        (["--trunk", "prv"], "no trunk 'prv' (did you mean 'prov'?) in the config"),
        (["answr"], "no test call named 'answr' (did you mean 'answer'?) in the config"),
    ],
)
@pytest.mark.parametrize("list_only", [False, True])
def test_a_typo_in_the_selection_exits_1_with_a_suggestion(
    tmp_path: Path, args: list[str], message: str, list_only: bool
) -> None:
    cfg = write_config(tmp_path / "config", "127.0.0.1:5060", CALLS)
    extra = ["--list"] if list_only else []
    code, out, err = invoke(["check", "--config", str(cfg), *extra, *args], NO_LIVEKIT)
    assert code == 1, (out, err)
    assert message in err
    assert out == ""


def test_a_valid_selection_of_nothing_exits_0_with_a_note(tmp_path: Path) -> None:
    extra = '  spare:\n    address: "127.0.0.1:5070"\n    numbers: ["+15550001112"]\n'
    cfg = write_config(tmp_path / "config", "127.0.0.1:5060", CALLS)
    text = (cfg / "sipctl.yaml").read_text().replace("test_calls:\n", extra + "test_calls:\n")
    (cfg / "sipctl.yaml").write_text(text)
    # a configured trunk no call uses, and a real tag on another trunk: valid, just empty
    for args in (["--trunk", "spare"], ["--tag", "smoke", "--trunk", "spare"]):
        code, out, err = invoke(["check", "--config", str(cfg), *args], NO_LIVEKIT)
        assert code == 0, (out, err)
        assert "No test calls selected: nothing to dial." in err


def test_serve_without_watch_exits_1(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config", "127.0.0.1:5060", CALLS)
    code, _, err = invoke(["check", "--config", str(cfg), "--serve", "127.0.0.1:9"], NO_LIVEKIT)
    assert code == 1
    assert "--serve needs --watch" in err


def test_list_as_json(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config", "127.0.0.1:5060", CALLS)
    code, out, err = invoke(
        ["check", "--config", str(cfg), "--list", "--format", "json", "--tag", "smoke"],
        NO_LIVEKIT,
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["format_version"] == 1 and doc["shard"] is None
    assert [(c["name"], c["expect"]) for c in doc["calls"]] == [
        ("answer", "answered"),
        ("busy-expected", "486"),
    ]
    assert doc["calls"][0]["tags"] == ["smoke"] and doc["calls"][0]["trunk"] == "prov"


def test_help_documents_the_exit_codes() -> None:
    code, out, _ = invoke(["check", "--help"], {})
    assert code == 0
    text = " ".join(out.split())
    assert "130 interrupted" in text and "3 a call failed" in text


@pytest.mark.parametrize("command", ["check", "plan", "apply", "import", "route"])
def test_every_command_that_talks_to_livekit_documents_130(command: str) -> None:
    code, out, _ = invoke([command, "--help"], {})
    assert code == 0
    assert "130" in out
