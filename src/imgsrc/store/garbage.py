"""Garbage collection of the filesystem store: unreferenced old blobs, abandoned temporary files, idle locks.

A blob is deleted only if, at the moment of deletion,

(a) the ``referenced`` callback (backed by the database) does not name it — an image that is not deleted
    references it, or an unfinished import has claimed it (imports claim their blobs *before* downloading or
    adopting them), and
(b) its mtime is older than the grace window — anything just written, committed or adopted is young.

Why both, and why the lock: the database answer is stale the moment it is given. An import may claim a
blob right after the first question, see it stored and adopt it instead of downloading. So the collector asks
in two passes: a cheap first pass without any lock narrows all old blobs to candidates; then, holding the
store lock *exclusively*, it asks again about those candidates only, re-reads each mtime and unlinks.
``adopt`` and ``commit`` take the same lock *shared*, so each of them happens entirely before that second
look (the blob is then young or claimed, and is kept) or entirely after the unlink (``adopt`` then reports
the blob absent and the import downloads it again). So a blob is never deleted under an import that believes
it is stored.

Candidates are handled in batches so that the exclusive lock — which makes adopts and commits wait — is held
for one database round trip and a few hundred unlinks at a time, never for a whole pass over the store.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass

from imgsrc.store import locks
from imgsrc.store.digests import digest_hex, format_digest, is_blob_name
from imgsrc.store.layout import StoreLayout, fsync_dir

__all__ = ["GcReport", "ReferencedFn", "clean_temp", "collect", "remove_idle_locks"]

log = logging.getLogger(__name__)

ReferencedFn = Callable[[Collection[str]], set[str]]
"""Given digests (``sha256:<hex>``), return those still referenced by an image that is not deleted."""

_DIGEST_LOCK = re.compile(r"[0-9a-f]{64}\.lock")


@dataclass(frozen=True, slots=True)
class GcReport:
    """What one collection did. ``kept_young`` counts unreferenced blobs spared by the grace window (including
    ones adopted or re-committed while the collection ran); ``kept_referenced`` counts old blobs the database
    still references."""

    removed: int = 0
    bytes_freed: int = 0
    kept_young: int = 0
    kept_referenced: int = 0
    temp_removed: int = 0


@dataclass(slots=True)
class _Tally:
    removed: int = 0
    bytes_freed: int = 0
    kept_young: int = 0
    kept_referenced: int = 0


def _still_referenced(referenced: ReferencedFn, digests: Sequence[str]) -> set[str]:
    # Only the asked digests count: a callback that answers more must not inflate the report.
    return set(referenced(list(digests))) & set(digests)


def _old_blob_batches(layout: StoreLayout, cutoff: float, size: int, tally: _Tally) -> Iterator[list[str]]:
    """Digests of blobs older than ``cutoff``, ``size`` at a time, streamed from the directory so memory stays
    flat however many blobs there are. Younger blobs are only counted."""
    batch: list[str] = []
    try:
        entries = os.scandir(layout.blobs)
    except FileNotFoundError:
        return
    with entries:
        for entry in entries:
            if not is_blob_name(entry.name):
                continue  # a foreign file: never collected
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            if st.st_mtime >= cutoff:
                tally.kept_young += 1
                continue
            batch.append(format_digest(entry.name))
            if len(batch) == size:
                yield batch
                batch = []
    if batch:
        yield batch


def _delete_unclaimed(
    layout: StoreLayout, referenced: ReferencedFn, candidates: list[str], cutoff: float, tally: _Tally
) -> None:
    """The second look, under the exclusive store lock: ask again, re-read each mtime, unlink."""
    removed_here = 0
    with locks.held(layout.store_lock, locks.EXCLUSIVE):
        live = _still_referenced(referenced, candidates)
        tally.kept_referenced += len(live)
        for digest in candidates:
            if digest in live:
                continue
            path = layout.blob(digest_hex(digest))
            try:
                st = os.lstat(path)
                if not stat.S_ISREG(st.st_mode):
                    continue
                if st.st_mtime >= cutoff:
                    tally.kept_young += 1  # adopted or re-committed since the first look
                    continue
                path.unlink()
            except FileNotFoundError:
                continue  # removed by hand meanwhile
            removed_here += 1
            tally.bytes_freed += st.st_size
            log.debug("gc removed blob %s (%d bytes)", digest, st.st_size)
        if removed_here:
            fsync_dir(layout.blobs)
    tally.removed += removed_here


def collect(
    layout: StoreLayout,
    referenced: ReferencedFn,
    *,
    grace_seconds: float,
    temp_max_age_seconds: float,
    batch_size: int,
) -> GcReport:
    """Run one collection (see the module docstring for the guarantees). Blocking; run it in a thread from
    async code. An exception from ``referenced`` (the database is down) stops the collection: what was already
    deleted stays deleted, nothing else is touched."""
    if grace_seconds < 0 or temp_max_age_seconds < 0 or batch_size < 1:
        raise ValueError("grace and temp ages must be >= 0 and batch_size >= 1")
    # One cutoff for the whole run, fixed at the start: later looks are at least as conservative.
    cutoff = time.time() - grace_seconds
    tally = _Tally()
    for batch in _old_blob_batches(layout, cutoff, batch_size, tally):
        live = _still_referenced(referenced, batch)
        tally.kept_referenced += len(live)
        candidates = [digest for digest in batch if digest not in live]
        if candidates:
            _delete_unclaimed(layout, referenced, candidates, cutoff, tally)
    temp_removed = clean_temp(layout, temp_max_age_seconds)
    remove_idle_locks(layout)
    report = GcReport(tally.removed, tally.bytes_freed, tally.kept_young, tally.kept_referenced, temp_removed)
    log.info("gc: %s", report)
    return report


def clean_temp(layout: StoreLayout, older_than_seconds: float) -> int:
    """Remove entries of ``root/tmp`` not modified for ``older_than_seconds``; return how many. A download in
    progress writes continually, so it stays young; a partial file abandoned by a crashed job that nobody
    resumed in time is removed (the job, if it ever resumes, starts that blob over)."""
    cutoff = time.time() - older_than_seconds
    removed = 0
    try:
        entries = list(os.scandir(layout.tmp))
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode) or st.st_mtime >= cutoff:
                continue
            os.unlink(entry.path)
        except FileNotFoundError:
            continue
        removed += 1
    if removed:
        log.info("removed %d abandoned temporary file(s) from %s", removed, layout.tmp)
    return removed


def remove_idle_locks(layout: StoreLayout) -> int:
    """Unlink the per-digest lock files nobody holds (they are empty; held ones are skipped, and the inode
    check in :mod:`imgsrc.store.locks` keeps waiters on a removed file correct). Returns how many."""
    removed = 0
    try:
        entries = list(os.scandir(layout.locks))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if _DIGEST_LOCK.fullmatch(entry.name) and locks.try_remove_lock_file(layout.locks / entry.name):
            removed += 1
    return removed
