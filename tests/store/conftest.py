"""Fixtures of the content store tests: a fresh store per test, and helpers to age files and write temps."""

from __future__ import annotations

import hashlib
import os
import time
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


def nothing_referenced(digests: object) -> set[str]:
    return set()
