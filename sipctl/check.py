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


def _unknown(what: str, given: Sequence[str], known: Iterable[str]) -> None:
    """A typo must not select nothing and pass: name what is not in the config."""
    choices = sorted(set(known))
    missing = [g for g in given if g not in choices]
    if not missing:
        return
    hints = []
    for g in missing:
        close = difflib.get_close_matches(g, choices, n=1)
        hints.append(f"{g!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise SelectionError(f"no {what} {', '.join(hints)} in the config")


def select_calls(
    test_calls: Mapping[str, TestCall],
    names: Sequence[str] = (),
    tags: Sequence[str] = (),
    trunks: Sequence[str] = (),
    known_trunks: Iterable[str] = (),
) -> list[tuple[str, TestCall]]:
    """The calls to run, in config order. Names, tags and trunks narrow down together;
    several of one kind widen (``--tag a --tag b``: either tag).

    A name, tag or trunk the config does not have raises :class:`SelectionError` with a
    did-you-mean; ``known_trunks``: the configured trunks (besides those calls use)."""
    _unknown("test call named", names, test_calls)
    _unknown("tag", tags, (t for c in test_calls.values() for t in c.tags))
    _unknown("trunk", trunks, [*known_trunks, *(c.trunk for c in test_calls.values())])
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
    known_trunks: Iterable[str] = (),
) -> list[tuple[str, TestCall]]:
    """The command line's selection: names, tags, trunks, then ``--shard K/N``."""
    selected = select_calls(test_calls, names, tags, trunks, known_trunks)
    if shard:
        k, n = parse_shard(shard)
        selected = shard_calls(selected, k, n)
    return selected


def parse_listen(text: str, *, watch: bool = True) -> tuple[str, int]:
    """``--serve HOST:PORT``; an empty host listens on every address, ``[::1]:9464``.

    Only with ``--watch``: serving alone would start dialling on schedule unasked."""
    if not watch:
        raise SelectionError(
            "--serve needs --watch: it serves the status and metrics of a running watch "
            "(add --watch to dial on the calls' schedules)"
        )
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise SelectionError(f"--serve must be HOST:PORT, e.g. 127.0.0.1:9464 (got {text!r})")
    return host.strip("[]") or "0.0.0.0", int(port)


def parallelism(option: int | None, default: int) -> int:
    """``--parallelism N`` (at least 1), else ``settings.check_parallelism``."""
    n = default if option is None else option
    if n < 1:
        raise SelectionError(f"--parallelism must be at least 1 (got {n})")
    return n
