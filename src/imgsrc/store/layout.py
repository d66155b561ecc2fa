"""Where things live under the store's root, how the directories are made, and how disk failures surface.

::

    root/                 0700
      blobs/sha256/<hex>  0644 blobs (the OCI image-layout layout); the directories are 0700 because the
                          blobs hold the data of every hub, and only the server may read them
      tmp/<name>          downloads and writes in progress; same filesystem as blobs/, so rename is atomic
      locks/store.lock    shared by commit/adopt, exclusive while garbage collection deletes
      locks/<hex>.lock    one per digest being downloaded (single flight across processes)
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from imgsrc.errors import UnknownError

__all__ = ["BLOB_MODE", "DIR_MODE", "StoreLayout", "fsync_dir", "os_errors"]

BLOB_MODE: Final = 0o644
DIR_MODE: Final = 0o700


@dataclass(frozen=True, slots=True)
class StoreLayout:
    """The paths of one store. Pure: building it touches nothing on disk."""

    root: Path

    @property
    def blobs(self) -> Path:
        return self.root / "blobs" / "sha256"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    @property
    def store_lock(self) -> Path:
        return self.locks / "store.lock"

    def blob(self, hex_: str) -> Path:
        return self.blobs / hex_

    def digest_lock(self, hex_: str) -> Path:
        return self.locks / f"{hex_}.lock"

    def ensure(self) -> None:
        """Create the directories (mode 0700, whatever the umask) and repair the mode of existing ones.
        Idempotent and safe to race with another process doing the same."""
        for directory in (self.root, self.root / "blobs", self.blobs, self.tmp, self.locks):
            # Only the root's parents (the data directory) may be missing; they get the default mode.
            with contextlib.suppress(FileExistsError):
                directory.mkdir(mode=DIR_MODE, parents=directory == self.root)
            st = os.lstat(directory)
            if not stat.S_ISDIR(st.st_mode):
                raise UnknownError(f"content store: {directory} exists and is not a directory")
            if stat.S_IMODE(st.st_mode) != DIR_MODE:
                os.chmod(directory, DIR_MODE)


def fsync_dir(path: Path) -> None:
    """Make the entries of ``path`` (a rename into it, an unlink) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def os_errors(action: str) -> Iterator[None]:
    """Translate a disk failure (``OSError``: full disk, I/O error, a permission the server lacks) into the
    project's :class:`UnknownError`, once, here at the adapter boundary. The message names the action and the
    operating system's reason, which is what an operator needs on a failed job."""
    try:
        yield
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise UnknownError(f"content store: could not {action}: {exc.strerror or exc}{where}") from exc
