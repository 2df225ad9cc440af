"""G.711 u-law/A-law to 16-bit PCM (ITU-T G.711), for the audio the bridge receives.

Decoding tables are built once at import (256 entries each); encoding is only needed
for what the bridge sends, which is silence unless an audio source is attached.
"""

from __future__ import annotations

import struct
from array import array


def _ulaw(byte: int) -> int:
    b = ~byte & 0xFF
    sign, exponent, mantissa = b & 0x80, (b >> 4) & 0x07, b & 0x0F
    mag = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -mag if sign else mag


def _alaw(byte: int) -> int:
    b = byte ^ 0x55
    sign, exponent, mantissa = b & 0x80, (b >> 4) & 0x07, b & 0x0F
    mag = (mantissa << 4) + 8 if exponent == 0 else ((mantissa << 4) + 0x108) << (exponent - 1)
    return mag if sign else -mag


ULAW_TO_PCM = array("h", (_ulaw(i) for i in range(256)))
ALAW_TO_PCM = array("h", (_alaw(i) for i in range(256)))


def ulaw_encode(sample: int) -> int:
    """One 16-bit sample to u-law."""
    sign = 0x80 if sample < 0 else 0
    mag = min(abs(sample), 32635) + 0x84
    exponent, mask = 7, 0x4000
    while exponent > 0 and not mag & mask:
        exponent -= 1
        mask >>= 1
    return ~(sign | (exponent << 4) | ((mag >> (exponent + 3)) & 0x0F)) & 0xFF


def alaw_encode(sample: int) -> int:
    """One 16-bit sample to A-law."""
    sign = 0x80 if sample >= 0 else 0
    mag = min(abs(sample), 32767)
    if mag < 256:
        code = mag >> 4
    else:
        exponent = mag.bit_length() - 8
        code = (exponent << 4) | ((mag >> (exponent + 3)) & 0x0F)
    return (sign | code) ^ 0x55


def decode(payload: bytes, alaw: bool) -> bytes:
    """G.711 payload to little-endian 16-bit PCM."""
    table = ALAW_TO_PCM if alaw else ULAW_TO_PCM
    return struct.pack(f"<{len(payload)}h", *(table[b] for b in payload))


def encode(pcm: bytes, alaw: bool) -> bytes:
    """Little-endian 16-bit PCM to a G.711 payload."""
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm[: len(pcm) // 2 * 2])
    enc = alaw_encode if alaw else ulaw_encode
    return bytes(enc(s) for s in samples)
