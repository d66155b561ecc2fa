"""Garbage collection: referenced and young blobs stay, old unreferenced ones go, and an import that adopts or
claims a blob while GC runs never loses it."""

from __future__ import annotations

import os
import threading
from collections.abc import Collection
from pathlib import Path

import pytest

from imgsrc.errors import DatabaseError
from imgsrc.store import FilesystemBlobStore, GcReport, locks
from tests.store.conftest import (
    age,
    blocked_flock_waiters,
    digest_of,
    nothing_referenced,
    wait_until,
    write_temp,
)

HOUR = 3600.0


def _old_blob(store: FilesystemBlobStore, data: bytes, seconds: float = 3 * HOUR) -> str:
    digest = store.put_bytes(data)
    age(store.path(digest), seconds)
    return digest


def test_old_unreferenced_blobs_are_removed(store: FilesystemBlobStore) -> None:
    digest = _old_blob(store, b"x" * 100)
    report = store.gc(nothing_referenced, grace_seconds=2 * HOUR)
    assert report == GcReport(removed=1, bytes_freed=100)
    assert not store.has(digest)


def test_referenced_blobs_are_kept_however_old(store: FilesystemBlobStore) -> None:
    kept = _old_blob(store, b"kept", 100 * HOUR)
    gone = _old_blob(store, b"gone", 100 * HOUR)
    report = store.gc(lambda digests: {kept} & set(digests), grace_seconds=2 * HOUR)
    assert (report.removed, report.kept_referenced) == (1, 1)
    assert store.has(kept)
    assert not store.has(gone)


def test_young_unreferenced_blobs_are_kept(store: FilesystemBlobStore) -> None:
    young = _old_blob(store, b"young", HOUR)
    asked: list[str] = []

    def referenced(digests: Collection[str]) -> set[str]:
        asked.extend(digests)
        return set()

    report = store.gc(referenced, grace_seconds=2 * HOUR)
    assert (report.removed, report.kept_young) == (0, 1)
    assert store.has(young)
    assert asked == [], "young blobs are not even looked up"


def test_a_blob_adopted_during_gc_is_kept(store: FilesystemBlobStore) -> None:
    """The import adopts the blob between GC's first question and its locked second look (deterministically:
    from inside the first ``referenced`` call). The refreshed mtime spares it even though the database never
    names it."""
    digest = _old_blob(store, b"adopted mid-gc")
    calls: list[list[str]] = []

    def referenced(digests: Collection[str]) -> set[str]:
        calls.append(list(digests))
        if len(calls) == 1:
            assert store.adopt(digest)
        return set()

    report = store.gc(referenced, grace_seconds=2 * HOUR)
    assert len(calls) == 2
    assert (report.removed, report.kept_young) == (0, 1)
    assert store.has(digest)


def test_a_blob_claimed_during_gc_is_kept(store: FilesystemBlobStore) -> None:
    """An import claims the blob in the database right after GC's first question: the second question, asked
    under the exclusive lock, sees the claim."""
    digest = _old_blob(store, b"claimed mid-gc")
    claimed: set[str] = set()

    def referenced(digests: Collection[str]) -> set[str]:
        answer = claimed & set(digests)
        claimed.add(digest)
        return answer

    report = store.gc(referenced, grace_seconds=2 * HOUR)
    assert (report.removed, report.kept_referenced) == (0, 1)
    assert store.has(digest)


def test_gc_holds_the_exclusive_lock_for_its_second_look(store: FilesystemBlobStore) -> None:
    digest = _old_blob(store, b"locked")
    probes: list[bool] = []

    def referenced(digests: Collection[str]) -> set[str]:
        fd = locks.try_acquire(store.root / "locks" / "store.lock", locks.SHARED)
        probes.append(fd is None)
        if fd is not None:
            locks.release(fd)
        return set()

    store.gc(referenced, grace_seconds=2 * HOUR)
    assert probes == [False, True], "first question unlocked, second under the exclusive lock"
    assert not store.has(digest)


def test_an_adopt_that_waits_for_gc_reports_the_blob_gone(store: FilesystemBlobStore) -> None:
    """An adopt arriving while GC holds the lock waits for it, then answers False: the import downloads the
    blob again instead of relying on one that was just deleted."""
    digest = _old_blob(store, b"deleted under a late adopter")
    results: list[bool] = []
    adopter: list[threading.Thread] = []

    def referenced(digests: Collection[str]) -> set[str]:
        if not adopter:
            adopter.append(threading.Thread(target=lambda: results.append(store.adopt(digest))))
        elif not adopter[0].is_alive() and not results:
            adopter[0].start()  # second look: GC holds the exclusive lock now
        return set()

    store.gc(referenced, grace_seconds=2 * HOUR)
    adopter[0].join(10)
    assert results == [False]
    assert not store.has(digest)


def test_a_recommit_during_gc_keeps_the_blob(store: FilesystemBlobStore) -> None:
    """Another import downloaded the same blob and commits it between GC's two looks: commit refreshes the
    stored copy, which the second look then finds young."""
    data = b"recommitted"
    digest = _old_blob(store, data)
    temp = write_temp(store, "other-job", data)
    calls = 0

    def referenced(digests: Collection[str]) -> set[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            store.commit(temp, digest)
        return set()

    report = store.gc(referenced, grace_seconds=2 * HOUR)
    assert (report.removed, report.kept_young) == (0, 1)
    assert store.read_bytes(digest, 100) == data


def test_a_commit_that_arrives_after_gcs_last_look_waits_and_stores_the_blob_afresh(
    store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worst moment: GC has read the old mtime and is about to unlink when another import commits the
    same digest. The commit must wait for GC (it queues on the store lock), then find the blob gone and
    install its own copy — not refresh the doomed one and return."""
    if not Path("/proc/locks").exists():
        pytest.skip("needs /proc/locks to see the committer queue")
    data = b"committed at the worst moment"
    digest = _old_blob(store, data)
    blob = store.path(digest)
    temp = write_temp(store, "late-job", data)
    committer = threading.Thread(target=store.commit, args=(temp, digest))
    real_lstat = os.lstat

    def lstat_then_commit(path: object, *args: object, **kwargs: object) -> os.stat_result:
        st = real_lstat(path, *args, **kwargs)  # type: ignore[arg-type]
        if path == blob and threading.current_thread() is threading.main_thread() and not committer.is_alive():
            committer.start()
            lock_inode = real_lstat(store.root / "locks" / "store.lock").st_ino
            wait_until(
                lambda: blocked_flock_waiters(lock_inode) == 1 or not committer.is_alive(),
                "the committer to queue on the store lock (or, wrongly, to finish)",
            )
        return st

    monkeypatch.setattr("imgsrc.store.garbage.os.lstat", lstat_then_commit)
    report = store.gc(nothing_referenced, grace_seconds=2 * HOUR)
    monkeypatch.undo()
    committer.join(10)
    assert report.removed == 1
    assert store.read_bytes(digest, 100) == data
    assert not temp.exists()


def test_a_blob_committed_from_an_old_temp_file_starts_its_grace_window_at_commit(
    store: FilesystemBlobStore,
) -> None:
    """A download resumed after a long pause (or a temp left by a crash just before rename) is old on disk;
    committing it makes the blob young, so GC does not delete it before the import records it."""
    data = b"written long ago"
    temp = write_temp(store, "resumed", data)
    age(temp, 10 * HOUR)
    store.commit(temp, digest_of(data))
    report = store.gc(nothing_referenced, grace_seconds=2 * HOUR)
    assert (report.removed, report.kept_young) == (0, 1)


def test_a_failing_database_stops_gc_without_deleting(store: FilesystemBlobStore) -> None:
    digest = _old_blob(store, b"db down")

    def referenced(digests: Collection[str]) -> set[str]:
        raise DatabaseError("connection refused")

    with pytest.raises(DatabaseError):
        store.gc(referenced, grace_seconds=2 * HOUR)
    assert store.has(digest)


def test_an_overeager_callback_does_not_inflate_the_report(store: FilesystemBlobStore) -> None:
    _old_blob(store, b"one")
    extra = {digest_of(b"never stored"), digest_of(b"also not")}
    report = store.gc(lambda digests: set(digests) | extra, grace_seconds=0)
    assert (report.removed, report.kept_referenced) == (0, 1)


def test_candidates_are_asked_about_in_batches(store: FilesystemBlobStore) -> None:
    digests = {_old_blob(store, bytes([i])) for i in range(5)}
    sizes: list[int] = []

    def referenced(asked: Collection[str]) -> set[str]:
        sizes.append(len(asked))
        return set()

    report = store.gc(referenced, grace_seconds=HOUR, batch_size=2)
    assert report.removed == 5
    assert max(sizes) == 2
    assert sum(sizes) == 2 * len(digests), "each candidate asked twice: once free, once under the lock"


def test_grace_zero_removes_every_unreferenced_blob(store: FilesystemBlobStore) -> None:
    digest = store.put_bytes(b"now")
    age(store.path(digest), 1)
    assert store.gc(nothing_referenced, grace_seconds=0).removed == 1


def test_old_temp_files_are_removed_and_young_ones_kept(store: FilesystemBlobStore) -> None:
    stale = write_temp(store, "crashed-job", b"partial")
    age(stale, 7 * HOUR)
    live = write_temp(store, "running-job", b"partial")
    (store.root / "tmp" / "somedir").mkdir()
    report = store.gc(nothing_referenced, grace_seconds=2 * HOUR)
    assert report.temp_removed == 1
    assert not stale.exists()
    assert live.exists()
    assert (store.root / "tmp" / "somedir").is_dir()


def test_clean_temp_at_start_up(store: FilesystemBlobStore) -> None:
    stale = write_temp(store, "old", b"x")
    age(stale, 120)
    fresh = write_temp(store, "new", b"y")
    assert store.clean_temp(60) == 1
    assert not stale.exists()
    assert fresh.exists()
    assert FilesystemBlobStore(store.root / "never-created").clean_temp(0) == 0


def test_idle_lock_files_are_removed_and_held_ones_kept(store: FilesystemBlobStore) -> None:
    store.put_bytes(b"layout")
    lock_dir = store.root / "locks"
    idle = lock_dir / f"{'a' * 64}.lock"
    held = lock_dir / f"{'b' * 64}.lock"
    idle.touch()
    fd = locks.acquire(held, locks.EXCLUSIVE)
    try:
        store.gc(nothing_referenced, grace_seconds=HOUR)
        assert not idle.exists()
        assert held.exists()
        assert (lock_dir / "store.lock").exists()
    finally:
        locks.release(fd)


def test_a_waiter_on_a_removed_lock_file_relocks_the_file_the_path_names(tmp_path: Path) -> None:
    """Removing a lock file never lets two holders in: a waiter queued on the unlinked inode notices, once it
    gets it, that the path now names another file, and locks that one instead."""
    if not Path("/proc/locks").exists():
        pytest.skip("needs /proc/locks to see the waiter queue")
    path = tmp_path / "x.lock"
    remover = locks.acquire(path, locks.EXCLUSIVE)
    old_inode = os.fstat(remover).st_ino
    got: list[int] = []
    waiter = threading.Thread(target=lambda: got.append(locks.acquire(path, locks.EXCLUSIVE)))
    waiter.start()
    wait_until(lambda: blocked_flock_waiters(old_inode) == 1, "the waiter to queue")
    path.unlink()  # what try_remove_lock_file does while holding the lock
    newcomer = locks.acquire(path, locks.EXCLUSIVE)  # a fresh file: free at once
    new_inode = os.fstat(newcomer).st_ino
    locks.release(remover)  # the waiter gets the old inode, sees it unlinked, queues on the new one
    locks.release(newcomer)
    waiter.join(10)
    assert len(got) == 1
    try:
        assert os.fstat(got[0]).st_ino == new_inode != old_inode
    finally:
        locks.release(got[0])


def test_gc_on_an_empty_store(store: FilesystemBlobStore) -> None:
    assert store.gc(nothing_referenced, grace_seconds=0) == GcReport()


def test_foreign_files_in_blobs_are_never_collected(store: FilesystemBlobStore) -> None:
    store.put_bytes(b"layout")
    foreign = store.root / "blobs" / "sha256" / "README"
    foreign.write_text("keep me")
    age(foreign, 100 * HOUR)
    store.gc(nothing_referenced, grace_seconds=0)
    assert foreign.exists()


def test_invalid_parameters_are_refused(store: FilesystemBlobStore) -> None:
    with pytest.raises(ValueError, match="grace"):
        store.gc(nothing_referenced, grace_seconds=-1)
    with pytest.raises(ValueError, match="batch_size"):
        store.gc(nothing_referenced, grace_seconds=0, batch_size=0)
