"""Single-flight downloads: one fetch of a given digest at a time, within this process and across processes.

The protocol (what a caller of :meth:`FilesystemBlobStore.download_slot` does)::

    if store.adopt(digest):                      # stored already: claimed in the database first, then adopted
        return
    async with store.download_slot(digest):      # wait for whoever is fetching it now
        if store.adopt(digest):                  # they stored it while we waited: nothing to fetch
            return
        temp = store.temp_path(f"{job_id}-{hex}")
        ...stream into temp, hashing...          # resuming from temp's size after a crash
        await asyncio.to_thread(store.commit, temp, digest)

Two layers make the slot:

* **In process**, waiters queue on an ``asyncio.Lock`` per digest (per event loop, since a process may run
  several loops in worker threads), so N concurrent tasks cost one waiter on the file lock, not N threads.
* **Across processes** (and across event loops of one process), the winner of that lock then takes an
  exclusive ``flock`` on ``root/locks/<hex>.lock``; waiting for it happens in a thread so the loop keeps
  running.

The slot is advisory: it only stops duplicate *work*. Correctness never depends on it: :meth:`commit` is
idempotent and race-safe on its own, so a caller that skips the slot wastes bandwidth but stores nothing
wrong. A holder that dies (crash, ``kill -9``) releases the ``flock`` with its descriptor; the next waiter
proceeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from imgsrc.store import locks
from imgsrc.store.layout import os_errors

__all__ = ["SingleFlight"]


@dataclass(slots=True)
class _Waiters:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class SingleFlight:
    """The in-process registry of digests being fetched. One per store object; thread-safe."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        # Keyed by (event loop id, hex): an asyncio.Lock belongs to one loop. Entries are dropped when their
        # last user leaves, so a loop's id can never be met again with a stale entry.
        self._entries: dict[tuple[int, str], _Waiters] = {}

    def _enter(self, key: tuple[int, str]) -> _Waiters:
        with self._guard:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Waiters()
            entry.users += 1
            return entry

    def _leave(self, key: tuple[int, str], entry: _Waiters) -> None:
        with self._guard:
            entry.users -= 1
            if entry.users == 0:
                del self._entries[key]

    def waiting(self, hex_: str) -> int:
        """How many tasks of this process hold or wait for the slot of ``hex_`` (for tests and metrics)."""
        with self._guard:
            return sum(entry.users for (_, key), entry in self._entries.items() if key == hex_)

    @contextlib.asynccontextmanager
    async def slot(self, hex_: str, lock_path: Path) -> AsyncIterator[None]:
        """Hold the exclusive right to fetch ``hex_`` for the ``async with`` block. Cancelling a waiter is
        safe at any point: it leaves the queue and never holds the file lock afterwards."""
        key = (id(asyncio.get_running_loop()), hex_)
        entry = self._enter(key)
        try:
            async with entry.lock:
                with os_errors(f"lock {lock_path.name} for a download"):
                    fd = await locks.acquire_async(lock_path, locks.EXCLUSIVE)
                try:
                    yield
                finally:
                    locks.release(fd)
        finally:
            self._leave(key, entry)
