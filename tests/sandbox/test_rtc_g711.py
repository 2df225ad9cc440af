"""G.711 with numpy (the audio extra, when real audio streams through the bridge) is the
same codec as the plain-Python one, for every 16-bit sample and every code."""

from __future__ import annotations

import struct

import pytest

from sipctl.sandbox.sip import g711

pytest.importorskip("numpy", reason="needs the audio extra: pip install 'sipctl[audio]'")

EVERY_SAMPLE = struct.pack("<65536h", *range(-32768, 32768))
EVERY_CODE = bytes(range(256))


@pytest.mark.parametrize("alaw", [False, True])
def test_numpy_and_plain_python_agree(alaw: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = (g711.encode(EVERY_SAMPLE, alaw), g711.decode(EVERY_CODE, alaw))
    monkeypatch.setattr(g711, "_np", None)
    plain = (g711.encode(EVERY_SAMPLE, alaw), g711.decode(EVERY_CODE, alaw))
    assert fast == plain
