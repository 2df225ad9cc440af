"""Which test calls run: the selection engine of ``sipctl check``.

- :func:`select_calls`: by names, ``--tag`` and ``--trunk``;
- :func:`shard_calls`: ``--shard K/N``, a stable split by a hash of the call name, so N
  machines (CronJob pods, a CI matrix) run disjoint parts whatever order they list them in.

Running them is :mod:`sipctl.dial` (once) and :mod:`sipctl.watch` (``--watch``).
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

from sipctl.errors import SipctlError
from sipctl.models import TestCall

T_ = TypeVar("T_")


class SelectionError(SipctlError):
    """The command line names a test call, tag or shard that does not fit the config."""


# --- selection ----------------------------------------------------------------------------


def select_calls(
    test_calls: Mapping[str, TestCall],
    names: Sequence[str] = (),
    tags: Sequence[str] = (),
    trunks: Sequence[str] = (),
) -> list[tuple[str, TestCall]]:
    """The calls to run, in config order. Names, tags and trunks narrow down together;
    several of one kind widen (``--tag a --tag b``: either tag)."""
    unknown = [n for n in names if n not in test_calls]
    if unknown:
        hints = []
        for n in unknown:
            close = difflib.get_close_matches(n, list(test_calls), n=1)
            hints.append(f"{n!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise SelectionError(f"no test call named {', '.join(hints)} in the config")
    wanted_names, wanted_tags, wanted_trunks = set(names), set(tags), set(trunks)
    out = []
    for name, call in test_calls.items():
        if wanted_names and name not in wanted_names:
            continue
        if wanted_tags and not wanted_tags.intersection(call.tags):
            continue
        if wanted_trunks and call.trunk not in wanted_trunks:
            continue
        out.append((name, call))
    return out


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` with 1 <= K <= N."""
    k_text, sep, n_text = text.partition("/")
    if not sep or not k_text.strip().isdigit() or not n_text.strip().isdigit():
        raise SelectionError(f"--shard must look like K/N, e.g. 1/3 (got {text!r})")
    k, n = int(k_text), int(n_text)
    if n < 1 or not 1 <= k <= n:
        raise SelectionError(f"--shard K/N needs 1 <= K <= N (got {text!r})")
    return k, n


def shard_of(name: str, n: int) -> int:
    """The shard (1..n) a call belongs to: stable across machines, runs and orderings."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big") % n + 1


def shard_calls(calls: Iterable[tuple[str, T_]], k: int, n: int) -> list[tuple[str, T_]]:
    return [(name, c) for name, c in calls if shard_of(name, n) == k]


def select(
    test_calls: Mapping[str, TestCall],
    names: Sequence[str] = (),
    tags: Sequence[str] = (),
    trunks: Sequence[str] = (),
    shard: str | None = None,
) -> list[tuple[str, TestCall]]:
    """The command line's selection: names, tags, trunks, then ``--shard K/N``."""
    selected = select_calls(test_calls, names, tags, trunks)
    if shard:
        k, n = parse_shard(shard)
        selected = shard_calls(selected, k, n)
    return selected


def parse_listen(text: str) -> tuple[str, int]:
    """``--serve HOST:PORT``; an empty host listens on every address, ``[::1]:9464``."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise SelectionError(f"--serve must be HOST:PORT, e.g. 127.0.0.1:9464 (got {text!r})")
    return host.strip("[]") or "0.0.0.0", int(port)
