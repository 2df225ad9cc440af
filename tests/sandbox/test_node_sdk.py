"""The Node server SDK as a second real client (issue #14: livekit-server-sdk 2.19, which
speaks Twirp JSON in camelCase with enum names and duration strings).

``tests/node/crud_and_call.mjs`` creates, updates, lists and deletes trunks and a rule,
and places a waited call through Kamailio + SIPp. The SDK is pinned by
``tests/node/package-lock.json`` and installed with ``npm ci`` (``.ci/run`` does it; this
test does it too when ``node_modules`` is missing). Skipped only when node is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sipctl.sandbox.provider import NUMBERS, Provider
from tests.fixtures.sandbox import REPO, Sandbox

pytestmark = pytest.mark.sip
NODE_DIR = REPO / "tests" / "node"


@pytest.fixture(scope="module")
def node() -> str:
    exe = shutil.which("node")
    if exe is None or shutil.which("npm") is None:
        pytest.skip("node/npm not installed (CI installs them)")
    if not (NODE_DIR / "node_modules" / "livekit-server-sdk").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=300
        )
    return exe


def run_script(node: str, sb: Sandbox, prov: Provider, call_to: str) -> dict[str, Any]:
    env = {
        **os.environ,
        **sb.env,
        "PROVIDER_ADDRESS": prov.address,
        "PROVIDER_USER": prov.username,
        "PROVIDER_PASS": prov.password,
        "CALL_TO": call_to,
    }
    proc = subprocess.run(
        [node, str(NODE_DIR / "crud_and_call.mjs")],
        cwd=NODE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_node_sdk_crud_and_a_waited_call(
    node: str, provider: Provider, sandbox: Sandbox, tmp_path: Path
) -> None:
    out = run_script(node, sandbox, provider, NUMBERS["answer"])
    assert out["outbound"]["id"].startswith("ST_") and out["updatedName"] == "node-out-2"
    assert out["inbound"]["numbers"] == ["+15550700009"]
    assert out["inbound"]["addresses"] == ["127.0.0.1/32"]
    assert out["rule"]["trunkIds"] == [out["inbound"]["id"]]
    assert out["listedOutbound"] == [out["outbound"]["id"]]
    assert out["listedRules"] == [out["rule"]["id"]]
    assert out["call"]["callId"].startswith("SCL_") and out["call"]["room"] == "node-room"
    assert out["participants"] == [{"identity": "node-callee", "status": "active"}]
    # a busy callee: the SDK's TwirpError carries LiveKit's code and SIP metadata
    assert out["busy"]["code"] == "resource_exhausted" and out["busy"]["status"] == 429
    assert out["busy"]["sipStatusCode"] == "486"
    assert out["afterDelete"] == {"outbound": 0, "inbound": 0, "rules": 0}
    stored = sandbox.state()
    assert stored["sip_outbound_trunks"] == [] and stored["sip_dispatch_rules"] == []
