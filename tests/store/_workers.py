"""Entry points of the child processes used by the cross-process tests (spawned: importable, picklable args)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier, Condition
from pathlib import Path
from typing import Any

from imgsrc.store import FilesystemBlobStore


def commit_same_blob(root: str, key: str, data: bytes, digest: str, barrier: Barrier) -> None:
    """Write a finished temp, wait for the other committer, then both commit the same digest."""
    store = FilesystemBlobStore(Path(root))
    temp = store.temp_path(key)
    temp.write_bytes(data)
    barrier.wait()
    store.commit(temp, digest)


@dataclass
class FetchJob:
    root: str
    key: str
    data: bytes
    digest: str
    fetch_log: str
    arrived: Any  # multiprocessing.Value("i"): processes that reached the slot
    cond: Condition
    processes: int


def _record_fetch(job: FetchJob) -> None:
    with open(job.fetch_log, "a") as log:
        log.write(f"{job.key}\n")


def _wait_for_everyone(job: FetchJob) -> None:
    with job.cond:
        if not job.cond.wait_for(lambda: job.arrived.value == job.processes, timeout=30):
            raise RuntimeError("the other processes never arrived")


def fetch_once(job: FetchJob) -> None:
    """Follow the single-flight protocol; whoever fetches first waits until every process has arrived at the
    slot, so the others are contending for it while the fetch runs. Each fetch appends a line to
    ``fetch_log``."""
    store = FilesystemBlobStore(Path(job.root))

    async def run() -> None:
        with job.cond:
            job.arrived.value += 1
            job.cond.notify_all()
        async with store.download_slot(job.digest):
            if store.adopt(job.digest):
                return
            await asyncio.to_thread(_wait_for_everyone, job)
            _record_fetch(job)
            temp = store.temp_path(job.key)
            temp.write_bytes(job.data)
            await asyncio.to_thread(store.commit, temp, job.digest)

    asyncio.run(run())
