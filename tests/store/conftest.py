"""Fixtures of the content store tests: a fresh store per test, and helpers to age files and write temps."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from imgsrc.store import FilesystemBlobStore


@pytest.fixture
def store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "store")


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_temp(store: FilesystemBlobStore, key: str, data: bytes) -> Path:
    """A finished download: ``data`` written to the store's temporary path for ``key``."""
    temp = store.temp_path(key)
    temp.write_bytes(data)
    return temp


def age(path: Path, seconds: float) -> None:
    """Set ``path``'s mtime ``seconds`` into the past (how tests make blobs and temps 'old')."""
    past = time.time() - seconds
    os.utime(path, (past, past))


def blocked_flock_waiters(inode: int) -> int:
    """How many flock requests are queued on the file with ``inode`` (the ``->`` lines of /proc/locks): the
    only observable sign that a thread or process is waiting for a lock, which tests await by polling."""
    count = 0
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" in fields and int(fields[-3].rsplit(":", 1)[1]) == inode:
            count += 1
    return count


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll ``condition`` (for states no event announces, like a queued flock); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.002)


def nothing_referenced(digests: object) -> set[str]:
    return set()
