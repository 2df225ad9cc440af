"""Run a provider in the foreground: ``python -m sipctl.sandbox.provider [--workdir DIR]``.

Prints one ``ready sip=127.0.0.1:PORT ...`` line once both daemons answer, then runs
until SIGTERM or SIGINT and stops them cleanly.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from types import FrameType

from sipctl.sandbox.provider.launcher import NUMBERS, Provider, ProviderError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sipctl.sandbox.provider",
        description="Loopback SIP trunk provider (kamailio + SIPp) for sipctl demos and tests.",
    )
    parser.add_argument("--workdir", help="logs and pid files (default: a new temp dir)")
    parser.add_argument("--port", type=int, help="SIP port, UDP and TCP (default: a free one)")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="SIPPROV_* setting, e.g. SIPPROV_CHALLENGE=401 (repeatable)",
    )
    parser.add_argument(
        "--livekit-sip",
        metavar="HOST:PORT",
        help="forward calls to +1555070... to this LiveKit SIP address (e.g. the sandbox's "
        "--sip-port), as a DID routed to LiveKit",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="also listen for SIP over TLS (needs kamailio-tls-modules and openssl); the "
        "CA to trust is printed as ca=PATH",
    )
    args = parser.parse_args(argv)
    env: dict[str, str] = {}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--env wants NAME=VALUE, got {item!r}")
        env[name] = value
    # a temporary work directory is removed when the provider stops (logs included)
    workdir = args.workdir or tempfile.mkdtemp(prefix="sipprov-")

    stop_requested = False

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    prov = Provider(
        workdir,
        env=env,
        sip_port=args.port,
        remove_workdir=not args.workdir,
        livekit_sip=args.livekit_sip,
        tls=args.tls,
    )
    try:
        prov.start()
    except ProviderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        print(
            f"ready sip={prov.address} transports=udp,tcp uas=127.0.0.1:{prov.uas_port} "
            f"user={prov.username} password={prov.password} realm={prov.realm} "
            f"workdir={prov.workdir} ready_ms={prov.timings['all_ready_ms']:.0f}",
            flush=True,
        )
        if prov.tls:
            print(f"tls={prov.tls_address} ca={prov.ca_file}", flush=True)
        print(
            "numbers: " + " ".join(f"{k}={v}" for k, v in NUMBERS.items()),
            flush=True,
        )
        while not stop_requested:
            time.sleep(0.2)  # not pause(): a signal between the check and pause() would hang
            if not prov.running:
                print("error: provider process exited, see " + str(prov.workdir), file=sys.stderr)
                return 1
    finally:
        prov.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
