"""Trunks and dispatch rules of the sandbox, in memory, optionally persisted to a directory.

Layout with ``--data-dir DIR``: ``DIR/<kind>/<ID>.json``, one protojson document per
resource (kinds: ``sip_outbound_trunks``, ``sip_inbound_trunks``, ``sip_dispatch_rules``).

Durability choice: requests never wait for the disk. A change marks the resource dirty;
shortly after (``FLUSH_DELAY_S``) a flush writes every dirty resource as a temp file,
makes the temp files durable (one ``syncfs`` where Linux has it, else an fsync each),
renames them over the targets with ``os.replace`` and fsyncs the directory; deleted
resources are unlinked. So each file is always a complete old or new version, a crash
loses at most the last few milliseconds of changes, 1,000 creates cost batched small
writes instead of 1,000 synchronous rewrites, and a clean shutdown flushes everything
(``close()``). Stored messages are never mutated in place (handlers store new objects),
so a snapshot taken for a flush stays valid while requests go on.
"""

from __future__ import annotations

import asyncio
import bisect
import ctypes
import logging
import os
from pathlib import Path
from typing import Generic, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message
from livekit.protocol import sip

M = TypeVar("M", bound=Message)

FLUSH_DELAY_S = 0.1
CHUNK = 256  # resources written per event-loop slice
OUTBOUND = "sip_outbound_trunks"
INBOUND = "sip_inbound_trunks"
DISPATCH = "sip_dispatch_rules"


class Collection(Generic[M]):
    """Resources of one kind by ID, with the IDs kept sorted (lists are sorted by ID)."""

    def __init__(self, kind: str, cls: type[M], id_field: str) -> None:
        self.kind = kind
        self.cls = cls
        self.id_field = id_field
        self._items: dict[str, M] = {}
        self._ids: list[str] = []

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._items

    def id_of(self, msg: M) -> str:
        value: str = getattr(msg, self.id_field)
        return value

    def get(self, item_id: str) -> M | None:
        return self._items.get(item_id)

    def put(self, msg: M) -> None:
        item_id = self.id_of(msg)
        if item_id not in self._items:
            bisect.insort(self._ids, item_id)
        self._items[item_id] = msg

    def delete(self, item_id: str) -> bool:
        if self._items.pop(item_id, None) is None:
            return False
        del self._ids[bisect.bisect_left(self._ids, item_id)]
        return True

    def values(self, after_id: str = "") -> list[M]:
        """All items sorted by ID; with ``after_id`` only IDs greater than it."""
        start = bisect.bisect_right(self._ids, after_id) if after_id else 0
        items = self._items
        return [items[i] for i in self._ids[start:]]

    def ids(self) -> list[str]:
        return list(self._ids)

    def clear(self) -> list[str]:
        gone = self._ids
        self._items, self._ids = {}, []
        return gone


class SipStore:
    """The three SIP collections plus optional persistence."""

    def __init__(self, data_dir: Path | None = None, logger: logging.Logger | None = None) -> None:
        self.outbound: Collection[sip.SIPOutboundTrunkInfo] = Collection(
            OUTBOUND, sip.SIPOutboundTrunkInfo, "sip_trunk_id"
        )
        self.inbound: Collection[sip.SIPInboundTrunkInfo] = Collection(
            INBOUND, sip.SIPInboundTrunkInfo, "sip_trunk_id"
        )
        self.dispatch: Collection[sip.SIPDispatchRuleInfo] = Collection(
            DISPATCH, sip.SIPDispatchRuleInfo, "sip_dispatch_rule_id"
        )
        self._log = logger or logging.getLogger(__name__)
        self._persist = _Persistence(data_dir, self._collections(), self._log) if data_dir else None

    def _collections(self) -> dict[str, Collection[Message]]:
        cols: list[Collection[Message]] = [self.outbound, self.inbound, self.dispatch]  # type: ignore[list-item]
        return {c.kind: c for c in cols}

    def load(self) -> None:
        if self._persist is not None:
            self._persist.load()

    def save(self, col: Collection[M], msg: M) -> None:
        col.put(msg)
        self._mark(col.kind, col.id_of(msg))

    def remove(self, col: Collection[M], item_id: str) -> bool:
        found = col.delete(item_id)
        if found:
            self._mark(col.kind, item_id)
        return found

    def clear(self) -> None:
        for col in self._collections().values():
            for item_id in col.clear():
                self._mark(col.kind, item_id)

    def _mark(self, kind: str, item_id: str) -> None:
        if self._persist is not None:
            self._persist.mark(kind, item_id)

    async def flush(self) -> None:
        if self._persist is not None:
            await self._persist.flush()

    async def close(self) -> None:
        if self._persist is not None:
            await self._persist.close()


class _Persistence:
    def __init__(
        self, root: Path, collections: dict[str, Collection[Message]], logger: logging.Logger
    ) -> None:
        self.root = root
        self.collections = collections
        self.log = logger
        self._dirty: dict[str, set[str]] = {kind: set() for kind in collections}
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def load(self) -> None:
        for kind, col in self.collections.items():
            folder = self.root / kind
            folder.mkdir(parents=True, exist_ok=True)
            for path in sorted(folder.glob("*.json")):
                if path.name.startswith("."):
                    continue  # a temp file left by a crash mid-write
                msg = col.cls()
                try:
                    json_format.Parse(path.read_text(), msg, ignore_unknown_fields=True)
                except (OSError, ValueError, json_format.ParseError) as e:
                    self.log.warning("skipping unreadable %s: %s", path, e)
                    continue
                if col.id_of(msg):
                    col.put(msg)

    def mark(self, kind: str, item_id: str) -> None:
        self._dirty[kind].add(item_id)
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(FLUSH_DELAY_S, self._kick)

    def _kick(self) -> None:
        self._timer = None
        self._task = asyncio.ensure_future(self.flush())

    def _pending(self) -> bool:
        return any(self._dirty.values())

    async def flush(self) -> None:
        async with self._lock:
            while self._pending():
                batch: list[tuple[Path, str, Message | None]] = []
                for kind, ids in self._dirty.items():
                    col = self.collections[kind]
                    batch.extend((self.root / kind, i, col.get(i)) for i in ids)
                    self._dirty[kind] = set()
                for start in range(0, len(batch), CHUNK):
                    chunk = batch[start : start + CHUNK]
                    try:
                        await _write_chunk(chunk)
                    except OSError as e:
                        self.log.error("store flush failed, will retry: %s", e)
                        for folder, item_id, _ in chunk:
                            self._dirty[folder.name].add(item_id)
                        await asyncio.sleep(0.5)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.flush()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


async def _write_chunk(chunk: list[tuple[Path, str, Message | None]]) -> None:
    """Write resources durably: temp files, one syncfs (else an fsync per file) for them,
    the renames, then an fsync per directory.

    Small file operations run on the event loop (about 0.1 ms each, in chunks of
    ``CHUNK``); only the slow syncs go to a thread. Doing every write in a thread was
    much slower under load: each syscall gave up the GIL and waited for a busy loop to
    hand it back."""
    folders: set[Path] = set()
    temps: list[tuple[Path, Path]] = []
    for folder, item_id, msg in chunk:
        folder.mkdir(parents=True, exist_ok=True)
        folders.add(folder)
        target = folder / f"{item_id}.json"
        if msg is None:
            target.unlink(missing_ok=True)
            continue
        data = json_format.MessageToJson(msg, preserving_proto_field_name=True, indent=1)
        tmp = folder / f".{item_id}.json.tmp"
        tmp.write_text(data, encoding="utf-8")
        temps.append((tmp, target))
    if temps:
        await asyncio.to_thread(_sync_files, [tmp for tmp, _ in temps])
    for tmp, target in temps:
        os.replace(tmp, target)
    await asyncio.to_thread(_fsync_all, sorted(folders))


def _syncfs(path: Path) -> bool:
    """Flush the filesystem holding ``path`` (Linux syncfs); False where unavailable."""
    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        return bool(syncfs(fd) == 0)
    finally:
        os.close(fd)


def _sync_files(paths: list[Path]) -> None:
    if not _syncfs(paths[0]):
        _fsync_all(paths)


def _fsync_all(paths: list[Path]) -> None:
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
