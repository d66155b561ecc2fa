"""Writing blobs: atomic commits, idempotence under races, modes, and what a crash leaves behind."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import stat
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgsrc.errors import IntegrityError, InvalidArgumentError, MaxExceededError, NotFoundError, UnknownError
from imgsrc.store import FilesystemBlobStore
from tests.store import _workers
from tests.store.conftest import digest_of, write_temp


def _blob_names(store: FilesystemBlobStore) -> list[str]:
    return sorted(os.listdir(store.root / "blobs" / "sha256"))


def test_constructing_a_store_touches_nothing_on_disk(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "store")
    assert not store.has(digest_of(b"x"))
    assert list(store.iter_blobs()) == []
    assert not (tmp_path / "store").exists()


def test_commit_moves_the_temp_into_blobs_sha256_hex(store: FilesystemBlobStore) -> None:
    data = b"layer bytes"
    digest = digest_of(data)
    temp = write_temp(store, "job1-a", data)
    store.commit(temp, digest)
    assert not temp.exists()
    assert store.path(digest) == store.root / "blobs" / "sha256" / digest.removeprefix("sha256:")
    assert store.has(digest)
    assert store.size(digest) == len(data)
    assert store.read_bytes(digest, 100) == data
    with store.open(digest) as file:
        assert file.read() == data


def test_reads_of_an_absent_blob(store: FilesystemBlobStore) -> None:
    digest = digest_of(b"absent")
    assert not store.has(digest)
    assert store.size(digest) is None
    with pytest.raises(NotFoundError):
        store.open(digest)
    with pytest.raises(NotFoundError):
        store.read_bytes(digest, 10)


def test_read_bytes_refuses_a_blob_over_the_limit(store: FilesystemBlobStore) -> None:
    digest = store.put_bytes(b"x" * 11)
    assert store.read_bytes(digest, 11) == b"x" * 11
    with pytest.raises(MaxExceededError):
        store.read_bytes(digest, 10)


def test_put_bytes_returns_the_digest_and_is_idempotent(store: FilesystemBlobStore) -> None:
    data = b'{"schemaVersion": 2}'
    first = store.put_bytes(data)
    again = store.put_bytes(data)
    assert first == again == digest_of(data)
    assert _blob_names(store) == [first.removeprefix("sha256:")]
    assert os.listdir(store.root / "tmp") == []


def test_commit_of_a_stored_digest_keeps_one_copy_and_removes_the_temp(store: FilesystemBlobStore) -> None:
    data = b"same"
    digest = store.put_bytes(data)
    inode = store.path(digest).stat().st_ino
    temp = write_temp(store, "job2-a", data)
    store.commit(temp, digest)
    assert not temp.exists()
    assert store.path(digest).stat().st_ino == inode
    assert store.usage() == (1, len(data))


def test_commit_replaces_a_damaged_blob_of_the_wrong_size(store: FilesystemBlobStore) -> None:
    data = b"the real content"
    digest = digest_of(data)
    store.root.joinpath("blobs", "sha256").mkdir(parents=True)
    store.path(digest).write_bytes(b"trunc")
    store.commit(write_temp(store, "k", data), digest)
    assert store.read_bytes(digest, 100) == data


def test_verify_refuses_content_that_does_not_match_and_stores_nothing(store: FilesystemBlobStore) -> None:
    temp = write_temp(store, "job3-a", b"tampered")
    with pytest.raises(IntegrityError):
        store.commit(temp, digest_of(b"original"), verify=True)
    assert not temp.exists(), "wrong content is discarded: it must be fetched again"
    assert _blob_names(store) == []


def test_verify_accepts_matching_content(store: FilesystemBlobStore) -> None:
    data = os.urandom(3 * 1024 * 1024)
    store.commit(write_temp(store, "job4-a", data), digest_of(data), verify=True)
    assert store.read_bytes(digest_of(data), len(data)) == data


def test_commit_refuses_a_missing_temp_or_a_symlink(store: FilesystemBlobStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError):
        store.commit(store.temp_path("nothing-here"), digest_of(b""))
    target = tmp_path / "secret"
    target.write_bytes(b"not yours")
    link = store.temp_path("link")
    link.symlink_to(target)
    with pytest.raises(InvalidArgumentError):
        store.commit(link, digest_of(b"not yours"))
    assert _blob_names(store) == []


def test_commit_copies_in_a_file_from_another_filesystem(store: FilesystemBlobStore) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == Path(store.root.parent).stat().st_dev:
        pytest.skip("needs a second filesystem at /dev/shm")
    data = b"uploaded elsewhere"
    with tempfile.TemporaryDirectory(dir=shm) as elsewhere:
        temp = Path(elsewhere) / "upload"
        temp.write_bytes(data)
        store.commit(temp, digest_of(data))
        assert not temp.exists()
    assert store.read_bytes(digest_of(data), 100) == data
    assert os.listdir(store.root / "tmp") == []


@pytest.mark.parametrize("umask", [0o000, 0o077])
def test_modes_are_0700_for_directories_and_0644_for_blobs_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        store = FilesystemBlobStore(tmp_path / "data" / "store")
        digest = store.put_bytes(b"mode check")
    finally:
        os.umask(old)
    for directory in ("", "blobs", "blobs/sha256", "tmp", "locks"):
        assert stat.S_IMODE((store.root / directory).stat().st_mode) == 0o700, directory
    assert stat.S_IMODE(store.path(digest).stat().st_mode) == 0o644


def test_a_blob_with_wrong_permissions_is_repaired_by_commit_and_adopt(store: FilesystemBlobStore) -> None:
    digest = store.put_bytes(b"perm")
    store.path(digest).chmod(0o000)
    assert store.adopt(digest)
    assert stat.S_IMODE(store.path(digest).stat().st_mode) == 0o644
    store.path(digest).chmod(0o600)
    store.commit(write_temp(store, "again", b"perm"), digest)
    assert stat.S_IMODE(store.path(digest).stat().st_mode) == 0o644


def test_a_directory_with_wrong_permissions_is_repaired(tmp_path: Path) -> None:
    root = tmp_path / "store"
    (root / "blobs").mkdir(parents=True, mode=0o755)
    root.chmod(0o755)
    FilesystemBlobStore(root).put_bytes(b"x")
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE((root / "blobs").stat().st_mode) == 0o700


def test_a_half_written_temp_is_never_visible_as_a_blob(store: FilesystemBlobStore) -> None:
    data = b"0123456789" * 1000
    digest = digest_of(data)
    temp = store.temp_path("job5-" + digest[7:])
    temp.write_bytes(data[:4000])  # the download died here
    restarted = FilesystemBlobStore(store.root)
    assert not restarted.has(digest)
    assert list(restarted.iter_blobs()) == []
    assert restarted.temp_path("job5-" + digest[7:]).stat().st_size == 4000


def test_a_crash_between_fsync_and_rename_leaves_only_a_temp(
    store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"complete but not yet renamed"
    digest = digest_of(data)
    temp = write_temp(store, "job6-a", data)

    def crash(*args: object) -> None:
        raise OSError(5, "simulated crash")

    with monkeypatch.context() as patch:
        patch.setattr(os, "rename", crash)
        with pytest.raises(UnknownError):
            store.commit(temp, digest)
    assert not store.has(digest)
    assert temp.read_bytes() == data
    FilesystemBlobStore(store.root).commit(temp, digest, verify=True)  # the resumed job
    assert store.read_bytes(digest, 100) == data


def test_disk_failures_surface_as_unknown_error_naming_the_reason(
    store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = write_temp(store, "job7-a", b"data")

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(UnknownError, match="No space left on device") as caught:
        store.commit(temp, digest_of(b"data"))
    assert isinstance(caught.value.__cause__, OSError)
    assert _blob_names(store) == []


def test_a_file_where_a_store_directory_should_be_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    (root / "blobs").write_bytes(b"")
    with pytest.raises(UnknownError, match="not a directory"):
        FilesystemBlobStore(root).put_bytes(b"x")


def test_racing_commits_from_threads_store_one_complete_copy(store: FilesystemBlobStore) -> None:
    data = os.urandom(256 * 1024)
    digest = digest_of(data)
    threads = 8
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []
    temps = [write_temp(store, f"job{i}-a", data) for i in range(threads)]

    def commit(temp: Path) -> None:
        barrier.wait()
        try:
            store.commit(temp, digest)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=commit, args=(temp,)) for temp in temps]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert store.read_bytes(digest, len(data)) == data
    assert os.listdir(store.root / "tmp") == []
    assert _blob_names(store) == [digest[7:]]


def test_racing_commits_from_two_processes_store_one_complete_copy(store: FilesystemBlobStore) -> None:
    data = os.urandom(512 * 1024)
    digest = digest_of(data)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [
        ctx.Process(target=_workers.commit_same_blob, args=(str(store.root), f"p{i}-a", data, digest, barrier))
        for i in range(2)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [proc.exitcode for proc in procs] == [0, 0]
    assert store.read_bytes(digest, len(data)) == data
    assert os.listdir(store.root / "tmp") == []


def test_readers_never_see_a_partial_blob_while_commits_run(store: FilesystemBlobStore) -> None:
    """A watcher hashes every file it finds under blobs/ while blobs are committed: each one it sees is
    complete (its content hashes to its name)."""
    blobs_dir = store.root / "blobs" / "sha256"
    store.put_bytes(b"seed")  # creates the layout
    done = threading.Event()
    bad: list[str] = []
    seen: set[str] = set()

    def watch() -> None:
        while not done.is_set():
            for name in os.listdir(blobs_dir):
                try:
                    content = (blobs_dir / name).read_bytes()
                except FileNotFoundError:
                    continue
                seen.add(name)
                if hashlib.sha256(content).hexdigest() != name:
                    bad.append(name)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for i in range(40):
            data = os.urandom(64 * 1024 + i)
            temp = store.temp_path(f"w-{i}")
            with open(temp, "wb") as file:
                for offset in range(0, len(data), 4096):
                    file.write(data[offset : offset + 4096])
                    file.flush()
            store.commit(temp, digest_of(data))
    finally:
        done.set()
        watcher.join()
    assert bad == []
    assert len(seen) >= 1


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(contents=st.lists(st.binary(max_size=2048), max_size=8))
def test_the_store_holds_exactly_what_was_committed(tmp_path: Path, contents: list[bytes]) -> None:
    store = FilesystemBlobStore(Path(tempfile.mkdtemp(dir=tmp_path)))
    for i, data in enumerate(contents):
        if i % 2:
            store.put_bytes(data)
        else:
            store.commit(write_temp(store, f"h-{i}", data), digest_of(data))
    expected = {digest_of(data): len(data) for data in contents}
    assert {info.digest: info.size for info in store.iter_blobs()} == expected
    assert store.usage() == (len(expected), sum(expected.values()))
    for digest in expected:
        assert digest_of(store.read_bytes(digest, 4096)) == digest
    assert not store.root.joinpath("tmp").exists() or os.listdir(store.root / "tmp") == []


def test_files_that_are_not_blobs_are_ignored(store: FilesystemBlobStore) -> None:
    digest = store.put_bytes(b"real")
    blobs_dir = store.root / "blobs" / "sha256"
    (blobs_dir / "README").write_text("hello")
    (blobs_dir / ("A" * 64)).write_text("uppercase is not a blob name")
    (blobs_dir / ("b" * 64)).mkdir()
    assert [info.digest for info in store.iter_blobs()] == [digest]
    assert not store.has("sha256:" + "b" * 64)
