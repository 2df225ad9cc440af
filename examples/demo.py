"""sipctl's whole job, end to end, on the embedded sandbox (run it with ``./dev demo``).

Starts ``sipctl sandbox`` (a LiveKit-compatible server whose calls are real SIP) and a
Kamailio provider with SIPp answering, on free loopback ports; then runs, as a user would:
validate, plan, apply (with verification dials through Kamailio), a changed config and
its plan and apply, and check with a passing and a failing test call. Stops everything it
started, whatever happens. Exits 0 when every step did what it should.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIPCTL = [sys.executable, "-m", "sipctl"]
API_KEY, API_SECRET = "devkey", "secret"  # the defaults of `livekit-server --dev`
BOLD = "\033[1m" if sys.stdout.isatty() else ""
RESET = "\033[0m" if sys.stdout.isatty() else ""


def say(text: str) -> None:
    print(f"\n{BOLD}{text}{RESET}", flush=True)


def run(args: list[str], env: dict[str, str], expect: int = 0) -> str:
    """Run one sipctl command as a user would, show it and its output, check its exit."""
    shown = " ".join(["sipctl", *args])
    print(f"$ {shown}", flush=True)
    proc = subprocess.run(
        [*SIPCTL, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    out = (proc.stdout + proc.stderr).rstrip()
    if out:
        print(textwrap.indent(out, "  "), flush=True)
    if proc.returncode != expect:
        raise SystemExit(f"demo: `{shown}` exited {proc.returncode}, expected {expect}")
    meaning = EXIT_MEANING.get((args[0], proc.returncode), "")
    print(f"  (exit {proc.returncode}{': ' + meaning if meaning else ''})", flush=True)
    return proc.stdout


EXIT_MEANING = {
    ("plan", 0): "no changes, or changes without --detailed-exitcode",
    ("plan", 2): "--detailed-exitcode: the plan has changes",
    ("check", 3): "a test call failed its expectation",
}

CHANGED_TRUNK = """\
    numbers: ["+15557770000", "+15557770001", "+15557770002"]"""

FAILING_CALL = """\
# Added by the demo: a number that rings and never answers, which must fail its check.
test_calls:
  acme-us-ringing-line:
    trunk: acme-us
    to: "+15550300001"          # rings forever: the probe CANCELs after ringing_timeout
    ringing_timeout: 3s
    verify_on_apply: false
    tags: [demo]
"""


def main() -> int:
    from sipctl.sandbox.process import SandboxError, SandboxProcess
    from sipctl.sandbox.provider import Provider, missing_binaries

    missing = missing_binaries()
    if missing:
        print(f"demo: needs {', '.join(missing)}: run ./dev demo, which installs them")
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="sipctl-demo-"))
    sandbox = SandboxProcess(workdir / "sandbox", api_key=API_KEY, api_secret=API_SECRET)
    provider = Provider(workdir / "provider")
    try:
        say("Starting the sandbox (LiveKit-compatible API, real SIP) and a Kamailio provider")
        sandbox.start()
        url = sandbox.url
        provider.start()
        print(f"  LiveKit sandbox: {url} (key {API_KEY})")
        print(
            f"  SIP provider:    Kamailio at {provider.address} (digest user "
            f"{provider.username}), SIPp answering behind it"
        )
        print(f"  Config:          a copy of config/ in {workdir / 'config'}")
        print(
            "  Environment:     LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET; "
            "ACME_SIP_ADDRESS/USERNAME/PASSWORD for the trunks"
        )
        config = workdir / "config"
        shutil.copytree(ROOT / "config", config)
        env = {
            **os.environ,
            "LIVEKIT_URL": url,
            "LIVEKIT_API_KEY": API_KEY,
            "LIVEKIT_API_SECRET": API_SECRET,
            "ACME_SIP_ADDRESS": provider.address,
            "ACME_SIP_USERNAME": provider.username,
            "ACME_SIP_PASSWORD": provider.password,
            "SIPCTL_CONFIG": str(config),
            "NO_COLOR": "1",
        }
        env.pop("GITHUB_STEP_SUMMARY", None)

        say("1. Validate the config: two outbound trunks and two test calls")
        run(["validate"], env)

        say("2. Plan: what would change in LiveKit")
        run(["plan", "--detailed-exitcode"], env, expect=2)

        say("3. Apply, then verification dials through the new trunks (via Kamailio)")
        out = run(["apply", "--auto-approve"], env)
        if "acme-us-answers" not in out or "PASS" not in out:
            raise SystemExit("demo: the verification dials did not report a passing call")

        say("4. Plan again: nothing to do")
        run(["plan", "--detailed-exitcode"], env)

        say("5. Change the config: a third caller number, and a test call that must fail")
        trunks = config / "trunks.yaml"
        text = trunks.read_text()
        old = '    numbers: ["+15557770000", "+15557770001"]'
        changed = text.replace(old, CHANGED_TRUNK, 1)
        trunks.write_text(changed)
        diff = difflib.unified_diff(
            text.splitlines(),
            changed.splitlines(),
            "a/trunks.yaml",
            "b/trunks.yaml",
            n=1,
            lineterm="",
        )
        print(textwrap.indent("\n".join(diff), "  "))
        (config / "demo-failing.yaml").write_text(FAILING_CALL)
        print("  + config/demo-failing.yaml (verify_on_apply: false, so apply does not dial it):")
        print(textwrap.indent(FAILING_CALL.rstrip(), "    "))
        run(["plan"], env)
        run(["apply", "--auto-approve"], env)

        say("6. Check: run every test call now (the ringing line must fail: exit 3)")
        run(["check", "--format", "text"], env, expect=3)

        say("Done: sipctl validated, planned, applied, verified and checked.")
        return 0
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        provider.stop()
        try:
            sandbox.stop()
        except SandboxError as exc:
            print(f"demo: {exc}", file=sys.stderr)
            sandbox.kill()
        shutil.rmtree(workdir, ignore_errors=True)
        print("Stopped the sandbox and the provider.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
