"""Secrets: every command, every output format, --debug logs, saved plans, written files
and error messages (auth failures included), with known passwords that must appear nowhere.

One test drives sipctl as whole processes against a sandbox and a Kamailio provider that
knows the trunk's password, so the verification dials and test calls really authenticate
with it. Every stdout, stderr and file sipctl writes is kept and searched for each secret:
the trunk passwords (before and after a rotation, and a wrong one), the inbound trunk's,
a literal one in a broken config, the API secret and a wrong API secret.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sipctl.sandbox.provider import NUMBERS
from tests.fixtures.provider import ProviderFactory
from tests.fixtures.sandbox import REPO, Sandbox, free_port

pytestmark = pytest.mark.sip

OUT_PW = "Out-Pa55-q7Zx9-known"
OUT_PW_ROTATED = "Rot-Pa55-w4Hn2-known"
OUT_PW_WRONG = "Bad-Pa55-m1Rt6-known"
IN_PW = "In-Pa55-k3Vb8-known"
LITERAL_PW = "Lit-Pa55-x8Jc5-known"
WRONG_API_SECRET = "wrong-api-secret-Zz91-0123456789abcdef"

CONFIG = """\
outbound_trunks:
  acme:
    address: "{address}"
    numbers: ["+15550001111"]
    auth: {{username: trunkuser, password: "${{ACME_PW}}"}}
inbound_trunks:
  office:
    numbers: ["+15550200009"]
    auth: {{username: office, password: "${{OFFICE_PW}}"}}
test_calls:
  smoke:
    trunk: acme
    to: "{answer}"
    ringing_timeout: 3s
    hold: 200ms
    schedule: every 1s
  busy:
    trunk: acme
    to: "{busy}"
    ringing_timeout: 3s
settings:
  jitter: 0s
  max_calls_per_hour: 10000
"""


class Recorder:
    """Runs sipctl and keeps everything it printed or wrote, labelled by command."""

    def __init__(self, sb: Sandbox, cfg: Path, tmp: Path) -> None:
        self.sb = sb
        self.cfg = cfg
        self.tmp = tmp
        self.texts: list[tuple[str, str]] = []
        self.summary = tmp / "step-summary.md"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            **self.sb.env,
            "PYTHONPATH": str(REPO),
            "ACME_PW": OUT_PW,
            "OFFICE_PW": IN_PW,
            "GITHUB_STEP_SUMMARY": str(self.summary),
            **extra,
        }

    def argv(self, *args: str, config: Path | None = None) -> list[str]:
        config_dir = str(config or self.cfg)
        return [
            sys.executable,
            "-m",
            "sipctl",
            args[0],
            "--config",
            config_dir,
            *args[1:],
            "--debug",
        ]

    def __call__(
        self, *args: str, codes: tuple[int, ...] = (0,), config: Path | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            self.argv(*args, config=config),
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=60,
        )
        label = " ".join(args)
        self.texts += [(f"{label} (stdout)", res.stdout), (f"{label} (stderr)", res.stderr)]
        assert res.returncode in codes, f"{label}: exit {res.returncode}\n{res.stderr}"
        assert "Traceback" not in res.stderr, res.stderr
        return res

    def file(self, path: Path) -> str:
        text = path.read_text()
        self.texts.append((str(path.relative_to(self.tmp)), text))
        return text


def test_no_secret_in_any_output(
    sandbox: Sandbox, provider_factory: ProviderFactory, tmp_path: Path
) -> None:
    prov = provider_factory(SIPPROV_PASS=OUT_PW)
    cfg = tmp_path / "config"
    cfg.mkdir()
    (cfg / "sipctl.yaml").write_text(
        CONFIG.format(address=prov.address, answer=NUMBERS["answer"], busy=NUMBERS["busy"])
    )
    run = Recorder(sandbox, cfg, tmp_path)
    saved, imported = tmp_path / "plan.json", tmp_path / "imported.yaml"
    reports = {fmt: tmp_path / f"check.{fmt}" for fmt in ("json", "junit", "prometheus", "md")}

    # config-only commands
    run("validate")
    run("schema")
    run("check", "--list")

    # plan in every format, saved; apply the saved plan (the dials authenticate with OUT_PW)
    assert "(sensitive value)" in run("plan").stdout
    run("plan", "--format", "json")
    run("plan", "--format", "markdown", "--detailed-exitcode", "--out", str(saved), codes=(2,))
    run.file(saved)
    res = run("apply", str(saved), "--format", "json", codes=(3,))  # the busy dial fails
    assert '"verdict": "pass"' in res.stdout
    run("apply", "--auto-approve")  # nothing to do

    # a rotated password: plan shows it changed, apply sends it, both values stay hidden
    rotated = {"ACME_PW": OUT_PW_ROTATED}
    assert "auth.password" in run("plan", **rotated).stdout
    run("apply", "--auto-approve", "--no-verify", **rotated)
    stored = {t["name"]: t["auth_password"] for t in sandbox.state()["sip_outbound_trunks"]}
    assert stored == {"acme": OUT_PW_ROTATED}  # it was really sent
    run("apply", "--auto-approve", "--no-verify")  # and back

    # import: the live passwords (LiveKit OSS returns them) become ${VARIABLE}s
    assert "${" in run("import").stdout
    run("import", "--out", str(imported))
    run.file(imported)

    # check in every format, also into the GitHub step summary; a failing call included
    outs = ["--format", "text"]
    for fmt, path in reports.items():
        outs += ["--format", {"md": "markdown"}.get(fmt, fmt), "--output", str(path)]
    run("check", *outs, codes=(3,))
    for path in reports.values():
        run.file(path)
    run.file(run.summary)

    # check --watch --serve: what /metrics serves, then SIGTERM
    port = free_port()
    argv = run.argv("check", "--watch", "--serve", f"127.0.0.1:{port}", "smoke")
    watch = subprocess.Popen(
        argv, env=run.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        metrics = ""
        deadline = time.monotonic() + 15
        while "sipctl_probe_success{" not in metrics and time.monotonic() < deadline:
            time.sleep(0.2)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    metrics = r.read().decode()
            except OSError:
                continue
        run.texts.append(("/metrics", metrics))
        assert "sipctl_probe_success{" in metrics
        watch.send_signal(signal.SIGTERM)
        out, err = watch.communicate(timeout=20)
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.communicate()
    run.texts += [("check --watch (stdout)", out), ("check --watch (stderr)", err)]

    # auth failures: the provider refuses a wrong trunk password, LiveKit a wrong API secret
    wrong = {"ACME_PW": OUT_PW_WRONG}
    res = run("apply", "--auto-approve", "--format", "json", codes=(3,), **wrong)
    assert "check auth.username/auth.password" in res.stdout
    res = run("check", "smoke", codes=(3,), **wrong)
    assert "check auth.username/auth.password" in res.stdout
    bad_key = {"LIVEKIT_API_SECRET": WRONG_API_SECRET}
    for args in (("plan",), ("apply", "--auto-approve"), ("import",), ("check", "smoke")):
        res = run(*args, codes=(1,), **bad_key)
        assert "LIVEKIT_API_SECRET" in res.stderr + res.stdout

    # LiveKit failing writes: the report names the resource and the server's error
    sandbox.set_faults(
        errors=[{"method": "UpdateSIPOutboundTrunk", "code": "internal", "msg": "disk full"}]
    )
    for fmt in ("text", "json"):
        res = run("apply", "--auto-approve", "--format", fmt, codes=(1,), **rotated)
        assert "disk full" in res.stdout
    # answers that are not LiveKit's: garbage, HTML from a proxy
    sandbox.set_faults(garbage={"method": "ListSIPOutboundTrunk", "kind": "garbage"})
    run("plan", codes=(1,))
    sandbox.set_faults(garbage={"method": "*", "kind": "html"})
    run("import", codes=(1,))
    run("check", "smoke", codes=(1,))
    sandbox.clear_faults()

    # config errors: a literal password, and the variable left unset
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "sipctl.yaml").write_text(
        (cfg / "sipctl.yaml").read_text().replace("${ACME_PW}", LITERAL_PW)
    )
    assert "literal secret" in run("validate", codes=(1,), config=broken).stderr
    run("plan", codes=(1,), config=broken)
    env_unset = run.env()
    del env_unset["OFFICE_PW"]
    res = subprocess.run(
        run.argv("validate"), env=env_unset, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 1 and "OFFICE_PW" in res.stderr
    run.texts.append(("validate with OFFICE_PW unset (stderr)", res.stderr))

    secrets = {
        "outbound password": OUT_PW,
        "rotated password": OUT_PW_ROTATED,
        "wrong password": OUT_PW_WRONG,
        "inbound password": IN_PW,
        "literal password": LITERAL_PW,
        "API secret": sandbox.api_secret,
        "wrong API secret": WRONG_API_SECRET,
    }
    assert any("DEBUG" in text for _, text in run.texts)  # the debug logs were captured
    leaks = [
        f"{what} in {label}"
        for label, text in run.texts
        for what, secret in secrets.items()
        if secret in text
    ]
    assert not leaks, "\n".join(leaks)
