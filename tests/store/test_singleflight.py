"""Single-flight downloads: many waiters for one digest cause one fetch, in a process and across processes."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from imgsrc.store import FilesystemBlobStore, locks
from tests.store import _workers
from tests.store.conftest import blocked_flock_waiters, digest_of, wait_until


def _lock_path(store: FilesystemBlobStore, digest: str) -> Path:
    return store.root / "locks" / f"{digest[7:]}.lock"


def _waiter_thread(store: FilesystemBlobStore, digest: str) -> threading.Thread | None:
    name = f"flock-wait:{_lock_path(store, digest).name}"
    return next((thread for thread in threading.enumerate() if thread.name == name), None)


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Yield to the loop until ``condition()`` holds (a state with no event to await); fail after 10 s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def test_many_concurrent_tasks_cause_one_fetch(store: FilesystemBlobStore) -> None:
    data = os.urandom(100_000)
    digest = digest_of(data)
    tasks_n = 20
    fetches: list[int] = []
    adopted: list[int] = []

    async def main() -> None:
        arrived = 0
        everyone_queued = asyncio.Event()

        async def download(i: int) -> None:
            nonlocal arrived
            arrived += 1
            if arrived == tasks_n:
                # The last task queues on the slot right after this, before any other task runs.
                everyone_queued.set()
            async with store.download_slot(digest):
                if store.adopt(digest):
                    adopted.append(i)
                    return
                await everyone_queued.wait()
                assert store._flights.waiting(digest[7:]) == tasks_n
                # The other tasks queue in the process, not each in a thread blocked on the file lock.
                assert _waiter_thread(store, digest) is None
                fetches.append(i)
                temp = store.temp_path(f"job{i}-{digest[7:]}")
                temp.write_bytes(data)
                await asyncio.to_thread(store.commit, temp, digest)

        await asyncio.gather(*(download(i) for i in range(tasks_n)))

    asyncio.run(main())
    assert len(fetches) == 1
    assert len(adopted) == tasks_n - 1
    assert store.read_bytes(digest, len(data)) == data
    assert store._flights.waiting(digest[7:]) == 0, "the in-process registry forgets finished digests"


def test_different_digests_do_not_wait_for_each_other(store: FilesystemBlobStore) -> None:
    a, b = digest_of(b"a"), digest_of(b"b")

    async def main() -> None:
        async with store.download_slot(a), store.download_slot(b):
            assert _waiter_thread(store, a) is None
            assert _waiter_thread(store, b) is None

    asyncio.run(main())


def test_a_slot_held_elsewhere_is_waited_for_without_blocking_the_event_loop(
    store: FilesystemBlobStore,
) -> None:
    """The flock held by 'another process' (a descriptor of this test) makes the task wait in a thread; the
    loop keeps running this test meanwhile, and the task enters once the lock is released."""
    digest = digest_of(b"held elsewhere")
    store.put_bytes(b"layout")
    entered = threading.Event()

    async def main() -> None:
        fd = locks.acquire(_lock_path(store, digest), locks.EXCLUSIVE)
        try:

            async def wait_for_slot() -> None:
                async with store.download_slot(digest):
                    entered.set()

            task = asyncio.create_task(wait_for_slot())
            await _until(lambda: _waiter_thread(store, digest) is not None, "the flock waiter thread")
            assert not task.done()
            assert not entered.is_set()
        finally:
            locks.release(fd)
        await task
        assert entered.is_set()

    asyncio.run(main())


def test_cancelling_a_waiter_never_leaves_the_lock_held(store: FilesystemBlobStore) -> None:
    digest = digest_of(b"cancelled")
    store.put_bytes(b"layout")
    lock_path = _lock_path(store, digest)

    async def main() -> threading.Thread:
        fd = locks.acquire(lock_path, locks.EXCLUSIVE)
        try:

            async def wait_for_slot() -> None:
                async with store.download_slot(digest):
                    raise AssertionError("a cancelled waiter must not enter")

            task = asyncio.create_task(wait_for_slot())
            await _until(lambda: _waiter_thread(store, digest) is not None, "the flock waiter thread")
            thread = _waiter_thread(store, digest)
            assert thread is not None
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            locks.release(fd)  # the abandoned thread now gets the lock, and must drop it at once
        return thread

    thread = asyncio.run(main())
    thread.join(10)
    assert not thread.is_alive()
    fd = locks.try_acquire(lock_path, locks.EXCLUSIVE)
    assert fd is not None, "the lock is free again"
    locks.release(fd)
    assert store._flights.waiting(digest[7:]) == 0


def test_cancelling_a_queued_task_lets_the_others_proceed(store: FilesystemBlobStore) -> None:
    digest = digest_of(b"queue")
    order: list[str] = []

    async def main() -> None:
        release = asyncio.Event()

        async def holder() -> None:
            async with store.download_slot(digest):
                order.append("holder")
                await release.wait()

        async def queued(name: str) -> None:
            async with store.download_slot(digest):
                order.append(name)

        first = asyncio.create_task(holder())
        await _until(lambda: order == ["holder"], "the holder to enter")
        doomed = asyncio.create_task(queued("doomed"))
        survivor = asyncio.create_task(queued("survivor"))
        await _until(lambda: store._flights.waiting(digest[7:]) == 3, "both tasks to queue")
        doomed.cancel()
        release.set()
        await asyncio.gather(first, survivor)
        with pytest.raises(asyncio.CancelledError):
            await doomed

    asyncio.run(main())
    assert order == ["holder", "survivor"]


def test_event_loops_in_two_threads_exclude_each_other(store: FilesystemBlobStore) -> None:
    """Worker threads run their own loops; the slot still admits one of them at a time (via the flock): the
    first holder stays inside until the second is seen queued on the lock file (or, wrongly, inside too)."""
    if not Path("/proc/locks").exists():
        pytest.skip("needs /proc/locks to see the second loop queue")
    digest = digest_of(b"two loops")
    store.put_bytes(b"layout")
    inside = 0
    most_inside = 0
    guard = threading.Lock()
    first_in = threading.Event()

    def lock_inode() -> int:
        try:
            return os.stat(_lock_path(store, digest)).st_ino
        except FileNotFoundError:
            return -1

    def worker(first: bool) -> None:
        async def run() -> None:
            nonlocal inside, most_inside
            if not first:
                await asyncio.to_thread(first_in.wait)
            async with store.download_slot(digest):
                with guard:
                    inside += 1
                    most_inside = max(most_inside, inside)
                if first:
                    first_in.set()
                    await asyncio.to_thread(
                        wait_until,
                        lambda: blocked_flock_waiters(lock_inode()) == 1 or most_inside > 1,
                        "the other loop to queue",
                    )
                with guard:
                    inside -= 1

        asyncio.run(run())

    threads = [threading.Thread(target=worker, args=(first,)) for first in (True, False)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert most_inside == 1


def test_processes_fetch_a_digest_once(store: FilesystemBlobStore, tmp_path: Path) -> None:
    data = os.urandom(200_000)
    digest = digest_of(data)
    processes = 4
    ctx = multiprocessing.get_context("spawn")
    arrived = ctx.Value("i", 0)
    cond = ctx.Condition()
    fetch_log = tmp_path / "fetches.log"
    fetch_log.touch()
    procs = [
        ctx.Process(
            target=_workers.fetch_once,
            args=(
                _workers.FetchJob(
                    str(store.root), f"p{i}-{digest[7:]}", data, digest, str(fetch_log), arrived, cond, processes
                ),
            ),
        )
        for i in range(processes)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [proc.exitcode for proc in procs] == [0] * processes
    assert len(fetch_log.read_text().splitlines()) == 1
    assert store.read_bytes(digest, len(data)) == data
    assert os.listdir(store.root / "tmp") == []
