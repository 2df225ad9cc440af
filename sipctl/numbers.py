"""LiveKit's number and address matching, the one home of these rules in the product.

Used by the route prediction (``sipctl.route``), its warnings, the server-rule checks
(``sipctl.server_rules``) and the inbound probe's matching. Written from livekit/protocol
``livekit/sip.go`` (``NormalizeNumber``) and ``sip/sip.go`` (``matchNumbers``,
``isValidMask``, ``matchAddrMask``, ``matchAddrMasks``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

# LiveKit's NormalizeNumber (livekit/protocol livekit/sip.go): only ASCII digits, spaces,
# dashes and parentheses with an optional leading '+' count as a number (Go's RE2 \d is
# ASCII; Python's is not, and Python's $ would accept a trailing newline).
_NUMBER = re.compile(r"\+?[0-9\- ()]+")
_FORMATTING = str.maketrans("", "", " -()")


def normalize_number(num: str) -> str:
    """LiveKit's ``NormalizeNumber``: drop formatting, ensure a leading '+' (else as is)."""
    digits = num[1:] if num.startswith("+") else num
    if digits.isascii() and digits.isdigit():
        return "+" + digits  # the common case, without the regex (10,000-trunk configs)
    if not num or not _NUMBER.fullmatch(num):
        return num
    num = num.translate(_FORMATTING)
    return num if num.startswith("+") else "+" + num


def match_numbers(num: str, allowed: Sequence[str]) -> bool:
    """``matchNumbers`` (sip/sip.go): an empty list allows all; else exact or normalised."""
    if not allowed:
        return True
    norm = normalize_number(num)
    return any(num == a or norm == normalize_number(a) for a in allowed)


def valid_mask(mask: str) -> bool:
    # isValidMask (sip/sip.go): entries with these characters or a scheme are ignored.
    return not any(c in mask for c in "()+*;, \t\n\r") and "://" not in mask


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _match_mask(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, mask: str) -> bool:
    # matchAddrMask: an address compares equal, a prefix contains (host bits allowed).
    if "/" not in mask:
        return _parse_ip(mask) == ip
    try:
        net = ipaddress.ip_network(mask, strict=False)
    except ValueError:
        return False
    return ip.version == net.version and ip in net


def match_addresses(source_ip: str, from_host: str, masks: Sequence[str]) -> bool:
    """``matchAddrMasks``: an unknown (unparsable) source address is not checked."""
    ip = _parse_ip(source_ip)
    if ip is None:
        return True
    valid = [m for m in masks if valid_mask(m)]
    if not valid:
        return True
    return any(m == from_host or _match_mask(ip, m) for m in valid)
