"""The body of sipctl's GitHub Action (action.yml): run one sipctl command as CI needs it.

Reads the action's inputs from ``INPUT_*`` variables and the runner's ``GITHUB_*``
variables; writes the step outputs ``exitcode``, ``has-changes`` and ``failed``, appends to
the job summary, and on pull requests keeps the Markdown plan in one comment that later
runs update (found by a hidden marker). It always exits 0 once sipctl ran, so the comment
is posted even for a failed plan; the action's last step turns ``failed`` into the exit.

Standard library only: it runs with the interpreter of sipctl's own environment.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

COMMANDS = ("validate", "plan", "apply", "check")
# GitHub refuses comment bodies over 65,536 characters.
COMMENT_LIMIT = 65_536
PR_EVENTS = ("pull_request", "pull_request_target")


def marker(config: str) -> str:
    """The hidden line that finds this config's plan comment again (one per config dir)."""
    return f"<!-- sipctl-plan: {config} -->"


def run(argv: list[str]) -> tuple[int, str, str]:
    """Run sipctl; its output goes to the log as it comes, and is kept."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
    )
    out: list[str] = []
    err: list[str] = []

    import threading

    def pump(stream: Any, sink: Any, keep: list[str]) -> None:
        for line in stream:
            keep.append(line)
            sink.write(line)
            sink.flush()

    t = threading.Thread(target=pump, args=(proc.stderr, sys.stderr, err))
    t.start()
    pump(proc.stdout, sys.stdout, out)
    t.join()
    return proc.wait(), "".join(out), "".join(err)


def fenced(text: str, info: str = "text") -> str:
    """A Markdown code block no line of ``text`` can close."""
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (longest + 1)
    return f"{fence}{info}\n{text.rstrip()}\n{fence}\n"


def append(path: str | None, text: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)


def set_outputs(values: dict[str, str]) -> None:
    append(os.environ.get("GITHUB_OUTPUT"), "".join(f"{k}={v}\n" for k, v in values.items()))


def run_link() -> str:
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
    repo, run_id = os.environ.get("GITHUB_REPOSITORY"), os.environ.get("GITHUB_RUN_ID")
    sha = (os.environ.get("GITHUB_SHA") or "")[:7]
    parts = []
    if repo and run_id:
        parts.append(f"[workflow run]({server}/{repo}/actions/runs/{run_id})")
    if sha:
        parts.append(f"commit {sha}")
    return " · ".join(parts)


def comment_body(config: str, plan_md: str, code: int, stderr: str) -> str:
    if code in (0, 2):
        text = plan_md.rstrip() + "\n"
    else:
        text = f"### sipctl plan failed (exit code {code}) for `{config}`\n\n" + fenced(stderr)
    footer = f"\n<sub>{run_link()}</sub>\n" if run_link() else ""
    head = marker(config) + "\n"
    room = COMMENT_LIMIT - len(head) - len(footer) - 200
    if len(text) > room:
        text = (
            text[:room].rsplit("\n", 1)[0]
            + "\n\n*(cut to fit a comment: the job summary has the whole plan)*\n"
        )
    return head + text + footer


class GitHub:
    """The few REST calls the comment needs, against ``GITHUB_API_URL``."""

    def __init__(self, api: str, repo: str, token: str) -> None:
        self.api, self.repo, self.token = api.rstrip("/"), repo, token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        req = urllib.request.Request(
            f"{self.api}{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self.token}",
                "X-GitHub-Api-Version": "2022-11-28",
                "Content-Type": "application/json",
                "User-Agent": "sipctl-action",
            },
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def upsert_comment(self, number: int, find: str, body: str) -> str:
        """Update the comment containing ``find``, or post a new one; 'updated'/'created'."""
        page = 1
        while True:
            comments = self.call(
                "GET", f"/repos/{self.repo}/issues/{number}/comments?per_page=100&page={page}"
            )
            for c in comments:
                if find in (c.get("body") or ""):
                    self.call(
                        "PATCH", f"/repos/{self.repo}/issues/comments/{c['id']}", {"body": body}
                    )
                    return "updated"
            if len(comments) < 100:
                break
            page += 1
        self.call("POST", f"/repos/{self.repo}/issues/{number}/comments", {"body": body})
        return "created"


def pull_request_number() -> int | None:
    if os.environ.get("GITHUB_EVENT_NAME") not in PR_EVENTS:
        return None
    path = os.environ.get("GITHUB_EVENT_PATH")
    if not path:
        return None
    try:
        event = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    number = (event.get("pull_request") or {}).get("number", event.get("number"))
    return number if isinstance(number, int) else None


def post_comment(config: str, body: str) -> None:
    number = pull_request_number()
    if number is None:
        return
    token = os.environ.get("INPUT_GITHUB_TOKEN") or os.environ.get("GITHUB_TOKEN", "")
    github = GitHub(
        os.environ.get("GITHUB_API_URL", "https://api.github.com"),
        os.environ.get("GITHUB_REPOSITORY", ""),
        token,
    )
    try:
        done = github.upsert_comment(number, marker(config), body)
    except urllib.error.HTTPError as exc:
        hint = (
            " (give the job `permissions: pull-requests: write`; pull requests from forks get "
            "a read-only token)"
            if exc.code in (401, 403, 404)
            else ""
        )
        print(f"::warning::could not comment the plan on #{number}: HTTP {exc.code}{hint}")
        return
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"::warning::could not comment the plan on #{number}: {exc}")
        return
    print(f"Plan comment {done} on pull request #{number}.")


def main() -> int:
    command = os.environ.get("INPUT_COMMAND", "").strip()
    if command not in COMMANDS:
        print(f"::error::input command must be one of {', '.join(COMMANDS)}, not {command!r}")
        set_outputs({"exitcode": "1", "has-changes": "false", "failed": "true"})
        return 0
    config = os.environ.get("INPUT_CONFIG", "").strip() or "config"
    try:
        args = shlex.split(os.environ.get("INPUT_ARGS", ""))
    except ValueError as exc:
        print(f"::error::input args: {exc}")
        set_outputs({"exitcode": "1", "has-changes": "false", "failed": "true"})
        return 0
    comment = os.environ.get("INPUT_COMMENT", "true").strip().lower() in ("true", "1", "yes")
    sipctl = [sys.executable, "-m", "sipctl"]
    summary = os.environ.get("GITHUB_STEP_SUMMARY")

    if command == "plan":
        code, out, err = run(
            [*sipctl, "plan", "--config", config, "--format", "markdown",
             "--detailed-exitcode", *args]
        )  # fmt: skip
        has_changes, failed = code == 2, code not in (0, 2)
        append(summary, out if not failed else f"### sipctl plan failed\n\n{fenced(err)}")
        if comment:
            post_comment(config, comment_body(config, out, code, err))
    elif command == "apply":
        code, out, err = run([*sipctl, "apply", "--config", config, "--auto-approve", *args])
        applied = re.search(r"^Apply (?:complete|failed|interrupted): (\d+) applied", out, re.M)
        has_changes, failed = bool(applied and int(applied[1]) > 0), code != 0
        append(summary, f"### sipctl apply\n\n{fenced(out + err)}")
    else:  # validate, check (check writes its own job summary)
        code, out, err = run([*sipctl, command, "--config", config, *args])
        has_changes, failed = False, code != 0
        if command == "validate":
            append(summary, f"### sipctl validate\n\n{fenced(out + err)}")

    set_outputs(
        {
            "exitcode": str(code),
            "has-changes": "true" if has_changes else "false",
            "failed": "true" if failed else "false",
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
