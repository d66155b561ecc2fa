"""``flock(2)`` locks on files under ``root/locks``, usable from threads, processes and asyncio.

Why ``flock`` and not ``fcntl`` record locks: ``flock`` locks belong to the open file description, so two
threads of one process that each open the lock file exclude each other exactly like two processes do, and the
lock vanishes when the holder dies (no stale lock files to break).

Lock files may be unlinked while unused (garbage collection tidies them). A waiter that opened the old file
could then lock an inode nobody else will ever open again, so every acquisition checks, after locking, that
the path still names the inode it locked, and starts over if not. Whoever unlinks a lock file does so only
while holding it exclusively (:func:`try_remove_lock_file`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

__all__ = ["acquire", "acquire_async", "held", "release", "try_acquire", "try_remove_lock_file"]

SHARED = fcntl.LOCK_SH
EXCLUSIVE = fcntl.LOCK_EX


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _still_named(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (it was not unlinked or replaced meanwhile)."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (mine.st_dev, mine.st_ino)


def _lock(path: Path, mode: int) -> int | None:
    """One attempt: open, lock with ``mode`` (may include ``LOCK_NB``), verify the inode. ``None`` when a
    non-blocking lock is busy; loops internally when the file was replaced under us."""
    while True:
        fd = _open(path)
        try:
            fcntl.flock(fd, mode)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        if _still_named(fd, path):
            return fd
        os.close(fd)


def acquire(path: Path, mode: int) -> int:
    """Block until ``path`` is locked in ``mode`` (``SHARED`` or ``EXCLUSIVE``); return the descriptor that
    holds the lock. Release it with :func:`release`."""
    while True:
        fd = _lock(path, mode)
        if fd is not None:  # always, for a blocking flock; the loop only satisfies the type
            return fd


def try_acquire(path: Path, mode: int) -> int | None:
    """Lock ``path`` without waiting; ``None`` if someone else holds a conflicting lock."""
    return _lock(path, mode | fcntl.LOCK_NB)


def release(fd: int) -> None:
    """Release a lock taken by this module (closing the descriptor drops the ``flock``)."""
    os.close(fd)


@contextlib.contextmanager
def held(path: Path, mode: int) -> Iterator[None]:
    """Hold ``path`` locked in ``mode`` for the ``with`` block (blocking the calling thread while waiting)."""
    fd = acquire(path, mode)
    try:
        yield
    finally:
        release(fd)


def _close_if_acquired(future: concurrent.futures.Future[int]) -> None:
    if not future.cancelled() and future.exception() is None:
        release(future.result())


async def acquire_async(path: Path, mode: int) -> int:
    """Lock ``path`` without blocking the event loop.

    A free lock is taken at once. A busy one is waited for in a dedicated daemon thread (not the loop's
    default executor: a wait can last as long as another process's whole download, and must not starve
    ``asyncio.to_thread`` users). If the waiting task is cancelled, the thread keeps waiting and releases the
    lock the moment it gets it, so a cancelled waiter never leaves a lock held.
    """
    fd = try_acquire(path, mode)
    if fd is not None:
        return fd
    future: concurrent.futures.Future[int] = concurrent.futures.Future()

    def wait() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            got = acquire(path, mode)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task, which re-raises it
            future.set_exception(exc)
        else:
            future.set_result(got)

    threading.Thread(target=wait, name=f"flock-wait:{path.name}", daemon=True).start()
    try:
        return await asyncio.wrap_future(future)
    except BaseException:
        # Cancelled (or the loop is going away) while the thread waits or has just succeeded: whoever finishes
        # last closes the descriptor; nobody else ever sees it.
        future.add_done_callback(_close_if_acquired)
        raise


def try_remove_lock_file(path: Path) -> bool:
    """Unlink the lock file ``path`` if nobody holds it: take it exclusively without waiting, unlink while
    holding, release. Returns whether it was removed. Waiters that had opened the old inode notice the unlink
    once they lock it and retry on a fresh file, so removal never lets two holders in."""
    try:
        fd = try_acquire(path, EXCLUSIVE)
    except FileNotFoundError:
        return False
    if fd is None:
        return False
    try:
        path.unlink(missing_ok=True)
    finally:
        release(fd)
    return True
