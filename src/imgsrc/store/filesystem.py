"""The embedded content store: blobs on the local filesystem, addressed by their sha256.

Invariants, whatever crashes or races happen:

* A path under ``blobs/`` only ever holds complete, fsynced content whose name is its digest. Content is
  written under ``tmp/``, fsynced, then renamed into place (atomic on one filesystem), then the directory is
  fsynced. A crash at any earlier point leaves at most a temporary file, which start-up or GC removes.
* The same digest is stored once, shared by every image of every hub. Committing a digest that is already
  stored (two imports racing, a retried job) keeps one copy and discards the other.
* A blob is deleted only by :meth:`FilesystemBlobStore.gc`, under the rules in :mod:`imgsrc.store.garbage`.

Methods are blocking (disk I/O, fsync, ``flock``); async callers run them with ``asyncio.to_thread``. The one
async method, :meth:`~FilesystemBlobStore.download_slot`, never blocks the loop.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

from imgsrc.errors import IntegrityError, InvalidArgumentError, MaxExceededError, NotFoundError
from imgsrc.store import garbage, locks
from imgsrc.store.digests import DigestLike, check_temp_key, digest_hex, format_digest, is_blob_name, sha256_digest
from imgsrc.store.layout import BLOB_MODE, StoreLayout, fsync_dir, os_errors
from imgsrc.store.singleflight import SingleFlight

__all__ = ["BlobInfo", "FilesystemBlobStore", "StoreUsage"]

DEFAULT_TEMP_MAX_AGE_SECONDS = 6 * 3600.0
"""GC removes temporary files untouched this long. Well above any stall a live transfer survives (transfers
time out after ``http_timeout_seconds``), so only abandoned partial files qualify."""


class BlobInfo(NamedTuple):
    digest: str
    size: int
    mtime: float


class StoreUsage(NamedTuple):
    blobs: int
    bytes: int


class FilesystemBlobStore:
    """Content-addressed blob store rooted at ``root`` (``<data_dir>/store``). See the module docstring.

    Constructing one touches nothing on disk; directories are created (mode 0700) on first write. Any number
    of instances, threads and processes may share one root.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._layout = StoreLayout(self.root)
        self._flights = SingleFlight()
        self._ready = False

    def __repr__(self) -> str:
        return f"FilesystemBlobStore(root={str(self.root)!r})"

    def _ensure(self) -> StoreLayout:
        if not self._ready:
            with os_errors("prepare the store directories"):
                self._layout.ensure()
            self._ready = True
        return self._layout

    # --- reading -------------------------------------------------------------------------------------------

    def path(self, digest: DigestLike) -> Path:
        """Where the blob of ``digest`` lives (whether or not it is stored). Read it, never write it."""
        return self._layout.blob(digest_hex(digest))

    def _stat(self, digest: DigestLike) -> os.stat_result | None:
        path = self.path(digest)
        with os_errors(f"stat blob {digest}"):
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                return None
        return st if stat.S_ISREG(st.st_mode) else None

    def has(self, digest: DigestLike) -> bool:
        """Whether the blob is stored. To rely on a stored blob (skip its download), use :meth:`adopt`."""
        return self._stat(digest) is not None

    def size(self, digest: DigestLike) -> int | None:
        """The blob's size in bytes, or ``None`` if it is not stored."""
        st = self._stat(digest)
        return None if st is None else st.st_size

    def open(self, digest: DigestLike) -> BinaryIO:
        """Open the blob for reading (binary, buffered). Raises :class:`NotFoundError` if it is not stored. An
        open file stays readable even if GC unlinks the blob meanwhile."""
        path = self.path(digest)
        with os_errors(f"open blob {digest}"):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except (FileNotFoundError, IsADirectoryError):
                raise NotFoundError(f"blob {digest} is not stored") from None
            return os.fdopen(fd, "rb")

    def read_bytes(self, digest: DigestLike, max_bytes: int) -> bytes:
        """The whole blob, for small ones (manifests, configs). Raises :class:`MaxExceededError` if it is
        larger than ``max_bytes`` (checked while reading, so a huge blob is never loaded)."""
        with self.open(digest) as file, os_errors(f"read blob {digest}"):
            data = file.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise MaxExceededError(f"blob {digest} is larger than {max_bytes} bytes")
        return data

    def iter_blobs(self) -> Iterator[BlobInfo]:
        """Every stored blob, in no particular order. Blobs committed or removed during the iteration may or
        may not appear."""
        with os_errors("list blobs"):
            try:
                entries = os.scandir(self._layout.blobs)
            except FileNotFoundError:
                return
            with entries:
                for entry in entries:
                    if not is_blob_name(entry.name):
                        continue  # a foreign file: never reported, never collected
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if stat.S_ISREG(st.st_mode):
                        yield BlobInfo(format_digest(entry.name), st.st_size, st.st_mtime)

    def usage(self) -> StoreUsage:
        """How many blobs are stored and their total size in bytes."""
        count = total = 0
        for info in self.iter_blobs():
            count += 1
            total += info.size
        return StoreUsage(count, total)

    # --- writing -------------------------------------------------------------------------------------------

    def temp_path(self, key: str) -> Path:
        """A temporary path for an in-progress download, the same for the same ``key`` (``<job id>-<hex>``) so
        that a job resumed after a crash finds its partial file. The file is not created; the directory is."""
        return self._ensure().tmp / check_temp_key(key)

    def commit(self, temp: Path, digest: DigestLike, *, verify: bool = False) -> None:
        """Move the complete file ``temp`` into the store as the blob ``digest``; ``temp`` is gone afterwards.

        Fsyncs the file, renames it into place, fsyncs the directory. If the blob is already stored (another
        committer won a race, or it was stored long ago), the stored copy is kept — its mode repaired and its
        mtime refreshed, as by :meth:`adopt` — and ``temp`` is removed. Safe to call concurrently for one
        digest from threads and processes. ``temp`` should be under :meth:`temp_path`'s directory; a file on
        another filesystem is copied in first.

        ``verify=True`` hashes the file first (for callers that did not hash while writing); on a mismatch
        ``temp`` is deleted and :class:`IntegrityError` raised: the content is wrong and must be fetched
        again. Otherwise the caller vouches for the content.
        """
        hex_ = digest_hex(digest)
        digest = format_digest(hex_)
        layout = self._ensure()
        temp = Path(temp)
        with os_errors(f"commit blob {digest}"):
            try:
                st = os.lstat(temp)
            except FileNotFoundError:
                raise InvalidArgumentError(f"temporary file {temp} does not exist") from None
            if not stat.S_ISREG(st.st_mode):
                raise InvalidArgumentError(f"temporary file {temp} is not a regular file")
            if verify:
                self._verify(temp, digest)
            staged = temp
            if st.st_dev != os.stat(layout.tmp).st_dev:
                staged = self._copy_in(temp)
            try:
                self._seal(staged)
                self._install(staged, hex_)
            except BaseException:
                if staged != temp:
                    staged.unlink(missing_ok=True)
                raise
            if staged != temp:
                temp.unlink(missing_ok=True)

    def _copy_in(self, source: Path) -> Path:
        fd, name = tempfile.mkstemp(dir=self._layout.tmp, prefix="copy-")
        try:
            with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
        except BaseException:
            os.unlink(name)
            raise
        return Path(name)

    @staticmethod
    def _verify(temp: Path, digest: str) -> None:
        with open(temp, "rb") as file:
            actual = format_digest(hashlib.file_digest(file, "sha256").hexdigest())
        if actual != digest:
            temp.unlink(missing_ok=True)
            raise IntegrityError(f"content of {temp.name} is {actual}, expected {digest}")

    @staticmethod
    def _seal(staged: Path) -> None:
        """Set the mode, refresh the mtime and fsync the file, before it becomes visible as a blob."""
        fd = os.open(staged, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb"):
            os.fchmod(fd, BLOB_MODE)
            # The grace window of GC starts now, not when the (maybe resumed) download last wrote.
            os.utime(fd)
            os.fsync(fd)

    def _install(self, staged: Path, hex_: str) -> None:
        layout = self._layout
        blob = layout.blob(hex_)
        # Shared with other committers and adopters, exclusive against GC's delete phase: GC can neither
        # delete the blob we are about to keep nor miss the mtime we refresh.
        with locks.held(layout.store_lock, locks.SHARED):
            try:
                existing = os.lstat(blob)
            except FileNotFoundError:
                existing = None
            if existing is not None and stat.S_ISREG(existing.st_mode) and existing.st_size == os.stat(staged).st_size:
                _refresh(blob, existing)
                staged.unlink()
                return
            # Absent, or damaged (wrong size, not a file): the rename atomically replaces a file; readers of
            # the old one keep their open descriptor. Two racing renames of equal content are both fine.
            os.rename(staged, blob)
            fsync_dir(layout.blobs)

    def put_bytes(self, data: bytes) -> str:
        """Store small content (manifests, configs) and return its digest. Idempotent."""
        digest = sha256_digest(data)
        if self.adopt(digest):
            return digest
        layout = self._ensure()
        with os_errors(f"write blob {digest}"):
            fd, name = tempfile.mkstemp(dir=layout.tmp, prefix="put-")
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(data)
            except BaseException:
                os.unlink(name)
                raise
        self.commit(Path(name), digest)
        return digest

    def adopt(self, digest: DigestLike) -> bool:
        """Rely on a stored blob instead of downloading it: under the shared store lock, check that it exists
        and refresh its mtime, so that a running GC's final look finds it young and spares it. Returns
        ``False`` if it is not stored (download it). Call it only after the import has claimed the digest in
        the database, so that later collections see the claim."""
        hex_ = digest_hex(digest)
        layout = self._ensure()
        blob = layout.blob(hex_)
        with os_errors(f"adopt blob {digest}"), locks.held(layout.store_lock, locks.SHARED):
            try:
                st = os.lstat(blob)
            except FileNotFoundError:
                return False
            if not stat.S_ISREG(st.st_mode):
                return False
            _refresh(blob, st)
            return True

    # --- single flight, garbage collection ------------------------------------------------------------------

    def download_slot(self, digest: DigestLike) -> contextlib.AbstractAsyncContextManager[None]:
        """``async with store.download_slot(digest):`` — the exclusive right to fetch ``digest``, against
        tasks of this process and other processes. After entering, call :meth:`adopt` again: whoever held the
        slot before may have stored it. The protocol is in :mod:`imgsrc.store.singleflight`."""
        hex_ = digest_hex(digest)
        layout = self._ensure()
        return self._flights.slot(hex_, layout.digest_lock(hex_))

    def gc(
        self,
        referenced: garbage.ReferencedFn,
        *,
        grace_seconds: float,
        temp_max_age_seconds: float = DEFAULT_TEMP_MAX_AGE_SECONDS,
        batch_size: int = 500,
    ) -> garbage.GcReport:
        """Delete blobs that ``referenced`` does not name and that are older than ``grace_seconds``; remove
        temporary files untouched for ``temp_max_age_seconds`` and idle lock files. Guarantees and protocol:
        :mod:`imgsrc.store.garbage`. Blocking."""
        layout = self._ensure()
        with os_errors("collect garbage"):
            return garbage.collect(
                layout,
                referenced,
                grace_seconds=grace_seconds,
                temp_max_age_seconds=temp_max_age_seconds,
                batch_size=batch_size,
            )

    def clean_temp(self, older_than_seconds: float) -> int:
        """Remove temporary files untouched for ``older_than_seconds`` (at start-up: partial files of jobs
        that will not resume). Returns how many were removed."""
        layout = self._ensure()
        with os_errors("clean temporary files"):
            return garbage.clean_temp(layout, older_than_seconds)


def _refresh(blob: Path, st: os.stat_result) -> None:
    """Mark a stored blob as just used (mtime now) and repair its mode if something changed it."""
    if stat.S_IMODE(st.st_mode) != BLOB_MODE:
        os.chmod(blob, BLOB_MODE)
    os.utime(blob)
