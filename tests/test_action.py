"""The GitHub Action (action.yml), run step by step as a runner would, against the sandbox.

GitHub cannot be reached from here, so the test plays the runner: it evaluates the
composite action's `${{ }}` expressions (only the contexts the action may use: inputs,
github.action_path, github.token, steps.<id>.outputs), runs each step with `bash
--noprofile --norc -eo pipefail` in the environment a runner gives (GITHUB_* variables, a
step-summary file, a fresh GITHUB_OUTPUT per step, GITHUB_PATH), and a local HTTP server
stands in for the GitHub REST API, keeping the pull request's comments and every request.
The action installs sipctl from its own checkout (a copy of this repository).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from tests.fixtures.sandbox import Sandbox
from tests.reconcile_helpers import write_config

ROOT = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
TOKEN = "ghs_test-token-0123456789"
REPO = "acme/telephony"
PR = 7

CONFIG = """
    outbound_trunks:
      acme-us:
        address: sip.acme.example
        numbers: ["+15550100001"]
"""
CONFIG_2 = (
    CONFIG
    + """
      acme-eu:
        address: sip.acme.example
        numbers: ["+445550100002"]
"""
)


# --- a stand-in for the GitHub REST API -------------------------------------------------


@dataclass
class FakeGitHub:
    comments: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    next_id: int = 1000
    url: str = ""

    def writes(self) -> list[tuple[str, str, Any]]:
        return [(m, p, b) for m, p, _, b in self.requests if m != "GET"]


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    gh = FakeGitHub()
    # other people's comments, enough that sipctl's lands on the second page
    for i in range(101):
        gh.comments.append({"id": i + 1, "body": f"looks good {i} (sipctl plan?)"})

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body: Any = json.loads(self.rfile.read(length)) if length else {}
            gh.requests.append((method, self.path, dict(self.headers), body))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._reply(401, {"message": "Bad credentials"})
            list_path = f"/repos/{REPO}/issues/{PR}/comments"
            if method == "GET" and url.path == list_path:
                q = parse_qs(url.query)
                per, page = int(q["per_page"][0]), int(q.get("page", ["1"])[0])
                return self._reply(200, gh.comments[(page - 1) * per : page * per])
            if method == "POST" and url.path == list_path:
                gh.next_id += 1
                gh.comments.append({"id": gh.next_id, "body": body["body"]})
                return self._reply(201, gh.comments[-1])
            m = re.fullmatch(rf"/repos/{REPO}/issues/comments/(\d+)", url.path)
            if method == "PATCH" and m:
                for c in gh.comments:
                    if c["id"] == int(m[1]):
                        c["body"] = body["body"]
                        return self._reply(200, c)
            return self._reply(404, {"message": "Not Found"})

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    gh.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield gh
    server.shutdown()
    server.server_close()


# --- a runner for composite actions ------------------------------------------------------


@dataclass
class Result:
    ok: bool
    outputs: dict[str, str]
    log: str
    summary: str


EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _evaluate(text: str, ctx: dict[str, Any]) -> str:
    def one(m: re.Match[str]) -> str:
        expr = m[1]
        if not re.fullmatch(r"[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*", expr):
            pytest.fail(f"action.yml uses an expression this runner does not model: {expr}")
        node: Any = ctx
        for part in expr.split("."):
            if part not in node:
                if node is ctx:
                    pytest.fail(f"action.yml uses a context this runner does not model: {expr}")
                return ""  # GitHub: a missing property is an empty string
            node = node[part]
        return str(node)

    return EXPR.sub(one, text)


def _read_outputs(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            j = lines.index(delim, i + 1)
            out[key] = "\n".join(lines[i + 1 : j])
            i = j + 1
            continue
        key, _, value = line.partition("=")
        out[key] = value
        i += 1
    return out


@dataclass
class Runner:
    """One job's runner: its temp dir, workspace and files persist across action uses."""

    root: Path
    action_path: Path
    env: dict[str, str]

    def use(self, inputs: dict[str, str], **extra_env: str) -> Result:
        ins = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
        ctx: dict[str, Any] = {
            "github": {"action_path": str(self.action_path), "token": TOKEN},
            "steps": {},
        }
        ins = {k: _evaluate(v, ctx) for k, v in ins.items()} | inputs
        ctx["inputs"] = ins
        summary = Path(self.env["GITHUB_STEP_SUMMARY"])
        summary.write_text("")
        gh_path = Path(self.env["GITHUB_PATH"])
        log: list[str] = []
        assert ACTION["runs"]["using"] == "composite"
        for n, step in enumerate(ACTION["runs"]["steps"]):
            assert step["shell"] == "bash" and "run" in step and "uses" not in step
            assert "if" not in step, "conditions live in the step's script"
            out_file = self.root / f"output-{n}"
            out_file.write_text("")
            added = [p for p in gh_path.read_text().splitlines() if p]
            env = {
                **self.env,
                **extra_env,
                "GITHUB_OUTPUT": str(out_file),
                "GITHUB_ACTION_PATH": str(self.action_path),
                "PATH": os.pathsep.join([*reversed(added), self.env["PATH"]]),
            }
            env.update({k: _evaluate(str(v), ctx) for k, v in (step.get("env") or {}).items()})
            script = self.root / f"step-{n}.sh"
            script.write_text(_evaluate(step["run"], ctx))
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                cwd=self.env["GITHUB_WORKSPACE"],
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            log.append(proc.stdout + proc.stderr)
            if "id" in step:
                ctx["steps"][step["id"]] = {"outputs": _read_outputs(out_file)}
            if proc.returncode != 0:
                return Result(False, self._outputs(ctx), "".join(log), summary.read_text())
        return Result(True, self._outputs(ctx), "".join(log), summary.read_text())

    def _outputs(self, ctx: dict[str, Any]) -> dict[str, str]:
        return {k: _evaluate(v["value"], ctx) for k, v in ACTION["outputs"].items()}


@pytest.fixture(scope="module")
def action_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The action's own checkout, as the runner downloads it (the repository's files)."""
    dest = tmp_path_factory.mktemp("actions") / "sipctl"
    shutil.copytree(
        ROOT,
        dest,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "__pycache__", "build", "dist", "*.egg-info", ".*_cache",
            ".hypothesis", "results", "node_modules",
        ),
    )  # fmt: skip
    return dest


@pytest.fixture(scope="module")
def runner_temp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RUNNER_TEMP, shared by the tests so later ones reuse the installed sipctl."""
    return tmp_path_factory.mktemp("runner-temp")


@pytest.fixture
def runner(
    tmp_path: Path, action_checkout: Path, runner_temp: Path, sandbox: Sandbox, github: FakeGitHub
) -> Runner:
    # setup-python's part: a Python 3.11+ first on PATH as python3
    bindir = tmp_path / "hostedtoolcache"
    bindir.mkdir()
    (bindir / "python3").symlink_to(sys.executable)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps({"action": "synchronize", "number": PR, "pull_request": {"number": PR}})
    )
    for name in ("summary.md", "path", "env"):
        (tmp_path / name).write_text("")
    keep = ("HOME", "LANG", "LC_ALL", "TMPDIR", "PIP_", "SSL_CERT")
    env = {k: v for k, v in os.environ.items() if k.startswith(keep)}
    env.update(sandbox.env)
    env.update(
        {
            "PATH": f"{bindir}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_API_URL": github.url,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "4242",
            "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
            "GITHUB_PATH": str(tmp_path / "path"),
            "GITHUB_ENV": str(tmp_path / "env"),
            "RUNNER_TEMP": str(runner_temp),
            "RUNNER_OS": "Linux",
        }
    )
    return Runner(tmp_path, action_checkout, env)


def _marked(github: FakeGitHub) -> list[dict[str, Any]]:
    return [c for c in github.comments if "<!-- sipctl-plan: config -->" in c["body"]]


def test_plan_comments_once_and_updates_that_comment(
    runner: Runner, github: FakeGitHub, sandbox: Sandbox
) -> None:
    ws = Path(runner.env["GITHUB_WORKSPACE"])
    write_config(ws / "config", CONFIG)

    first = runner.use({"command": "plan"})
    assert first.ok, first.log
    assert first.outputs == {"exitcode": "2", "has-changes": "true"}
    assert "### sipctl plan" in first.summary and "acme-us" in first.summary
    posts = [w for w in github.writes() if w[0] == "POST"]
    assert len(posts) == 1 and posts[0][1] == f"/repos/{REPO}/issues/{PR}/comments"
    (comment,) = _marked(github)
    assert "acme-us" in comment["body"] and "1 to create" in comment["body"]
    assert "actions/runs/4242" in comment["body"]
    assert all(h["Authorization"] == f"Bearer {TOKEN}" for _, _, h, _ in github.requests)

    # a later push: the same comment is updated, found on the second page by its marker
    write_config(ws / "config", CONFIG_2)
    second = runner.use({"command": "plan"})
    assert second.ok, second.log
    assert second.outputs == {"exitcode": "2", "has-changes": "true"}
    assert [(m, p) for m, p, _ in github.writes()][1:] == [
        ("PATCH", f"/repos/{REPO}/issues/comments/{comment['id']}")
    ]
    (comment,) = _marked(github)
    assert "acme-eu" in comment["body"] and "2 to create" in comment["body"]
    assert any("page=2" in p for m, p, _, _ in github.requests if m == "GET")

    # apply (sipctl put on PATH for later steps; the venv is reused): LiveKit changes
    applied = runner.use({"command": "apply"})
    assert applied.ok, applied.log
    assert applied.outputs == {"exitcode": "0", "has-changes": "true"}
    assert "### sipctl apply" in applied.summary and "Apply complete: 2 applied" in applied.summary
    names = sorted(t["name"] for t in sandbox.state()["sip_outbound_trunks"])
    assert names == ["acme-eu", "acme-us"]
    assert len(github.writes()) == 2  # apply comments nothing

    # nothing left to do: the comment says so, still one comment
    clean = runner.use({"command": "plan"})
    assert clean.ok and clean.outputs == {"exitcode": "0", "has-changes": "false"}
    (comment,) = _marked(github)
    assert "No changes" in comment["body"]
    assert [m for m, _, _ in github.writes()] == ["POST", "PATCH", "PATCH"]
    assert len(github.comments) == 102  # nobody else's comment was touched
    assert all(c["body"].startswith("looks good") for c in github.comments[:101])
    for result in (first, second, applied, clean):
        assert sandbox.api_secret not in result.log + result.summary
    assert all(sandbox.api_secret not in json.dumps(b) for _, _, b in github.writes())


def test_failed_plan_fails_the_action_and_says_why_in_the_comment(
    runner: Runner, github: FakeGitHub
) -> None:
    ws = Path(runner.env["GITHUB_WORKSPACE"])
    write_config(ws / "config", CONFIG)
    res = runner.use({"command": "plan"}, LIVEKIT_API_SECRET="wrong-secret-wrong-secret-0123456789")
    assert not res.ok
    assert res.outputs == {"exitcode": "1", "has-changes": "false"}
    assert "::error::sipctl plan exited with code 1" in res.log
    (comment,) = _marked(github)
    assert "sipctl plan failed (exit code 1)" in comment["body"]
    assert "refused the credentials" in comment["body"]
    assert "wrong-secret" not in comment["body"]


def test_validate_error_fails_the_action_with_file_and_line(
    runner: Runner, github: FakeGitHub
) -> None:
    ws = Path(runner.env["GITHUB_WORKSPACE"])
    write_config(ws / "telephony", CONFIG.replace('"+15550100001"', "42"))
    res = runner.use({"command": "validate", "config": "telephony"})
    assert not res.ok
    assert res.outputs == {"exitcode": "1", "has-changes": "false"}
    assert "### sipctl validate" in res.summary
    assert re.search(r"telephony/sip\.yaml:\d+:\d+", res.summary), res.summary
    assert github.requests == []  # only plan comments


def test_plan_outside_a_pull_request_and_comment_off_post_nothing(
    runner: Runner, github: FakeGitHub
) -> None:
    ws = Path(runner.env["GITHUB_WORKSPACE"])
    write_config(ws / "config", CONFIG)
    push = runner.use({"command": "plan"}, GITHUB_EVENT_NAME="push")
    assert push.ok and push.outputs["has-changes"] == "true"
    off = runner.use({"command": "plan", "comment": "false"})
    assert off.ok and off.outputs["exitcode"] == "2"
    assert github.requests == []


def test_unknown_command_is_refused(runner: Runner) -> None:
    res = runner.use({"command": "destroy"})
    assert not res.ok and res.outputs["exitcode"] == "1"
    assert "input command must be one of validate, plan, apply, check" in res.log


def test_examples_use_the_action_with_its_inputs() -> None:
    inputs = set(ACTION["inputs"])
    used = 0
    for path in (ROOT / "examples").glob("github-actions*.yml"):
        doc = yaml.safe_load(path.read_text())
        for job in doc["jobs"].values():
            for step in job["steps"]:
                if re.fullmatch(r"[\w-]+/sipctl@v\d+\.\d+\.\d+", step.get("uses", "")):
                    used += 1
                    assert set(step.get("with", {})) <= inputs, (path.name, step["with"])
                    assert step["with"]["command"] in ("validate", "plan", "apply", "check")
    assert used >= 3
