"""The job queue: Huey carries "run job X" messages; the job rows stay the truth.

Huey (https://huey.readthedocs.io) is a small, long-maintained task queue with an embedded SQLite backend and a
Redis backend, which is exactly the pair this project needs: the embedded default runs with no other service,
and ``IMGSRC_QUEUE_URL=redis://…`` spreads jobs over several worker processes or machines. Huey's own retries
and result store are not used: leases, retries and outcomes live in the ``jobs`` table, so a lost or duplicated
message is harmless (claiming a job is an atomic conditional UPDATE, and recovery re-sends lost messages).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from huey import RedisHuey, SqliteHuey
from huey.consumer import Consumer, Worker

from imgsrc.settings import Settings

__all__ = ["JobQueue"]

log = logging.getLogger(__name__)
TASK_NAME = "imgsrc.run_job"


class _WakeableWorker(Worker):  # type: ignore[misc]
    """Huey's worker whose idle wait also ends when a job is enqueued in this process.

    The embedded SQLite queue cannot block on the queue the way Redis does, so an idle worker polls it with a
    backoff up to ``job_poll_seconds``; without a wake-up, every job started from this process's API waited
    up to that long (a quarter of a second by default) before a worker saw it. Jobs enqueued elsewhere (another
    process) are still found by polling.
    """

    wake: threading.Event  # set on the class made for one queue by _wakeable
    delay: float  # Huey's backoff state, declared for the type checker
    default_delay: float
    max_delay: float
    backoff: float

    def sleep(self) -> None:
        self.delay = min(self.delay, self.max_delay)
        if self.wake.wait(self.delay):
            self.wake.clear()
            self.delay = self.default_delay
        else:
            self.delay *= self.backoff


def _wakeable(consumer: type[Consumer], wake: threading.Event) -> type[Consumer]:
    """``consumer`` whose workers are :class:`_WakeableWorker` woken by ``wake``."""
    worker = type("_QueueWorker", (_WakeableWorker,), {"wake": wake})
    return type(consumer.__name__, (consumer,), {"worker_class": worker})


class _EmbeddedConsumer(Consumer):  # type: ignore[misc]
    """Huey's consumer started from inside another program: the host (uvicorn) owns the signal handlers."""

    def _set_signal_handlers(self) -> None:
        return None


class JobQueue:
    """Sends job IDs to workers, and runs a consumer that hands them to a callback."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        if settings.queue_url and settings.queue_url.startswith(("redis://", "rediss://", "unix://")):
            self.huey: Any = RedisHuey(
                settings.queue_name, url=settings.queue_url, results=False, utc=True, blocking=True
            )
        elif settings.queue_url:
            raise ValueError("IMGSRC_QUEUE_URL must be a redis:// URL (or unset for the embedded queue)")
        else:
            path = settings.data_dir / "queue.db"
            self.huey = SqliteHuey(settings.queue_name, filename=str(path), results=False, utc=True, timeout=30)
        self._handler: Callable[[str], None] | None = None
        self._task = self.huey.task(name=TASK_NAME, retries=0)(self._dispatch)
        self._consumer: Consumer | None = None
        self._wake = threading.Event()

    def _dispatch(self, job_id: str) -> None:
        if self._handler is None:  # a message reached a process with no runner attached: leave it to recovery
            log.warning("job %s received with no runner attached", job_id)
            return
        self._handler(job_id)

    def enqueue(self, job_id: str) -> None:
        """Ask a worker to run the job. Failure to enqueue is logged, not raised: recovery will send it again."""
        try:
            self._task(job_id)
            self._wake.set()  # an idle worker of this process looks at once instead of at its next poll
        except Exception:
            log.exception("could not enqueue job %s; recovery will retry", job_id)

    def _make_consumer(self, handler: Callable[[str], None], workers: int, cls: type[Consumer]) -> Consumer:
        """Worker threads taking messages and calling ``handler(job_id)``; an idle worker polls at most every
        ``job_poll_seconds`` (the Redis backend blocks on the list instead)."""
        self._handler = handler
        self._consumer = _wakeable(cls, self._wake)(
            self.huey,
            workers=workers,
            worker_type="thread",
            periodic=False,
            initial_delay=0.05,
            backoff=1.5,
            max_delay=self._settings.job_poll_seconds,
            graceful_signal="TERM",
        )
        return self._consumer

    def start_consumer(self, handler: Callable[[str], None], workers: int) -> None:
        """Start consumer threads inside a host program (the HTTP server owns the signal handlers)."""
        self._make_consumer(handler, workers, _EmbeddedConsumer).start()

    def run_consumer_forever(self, handler: Callable[[str], None], workers: int) -> None:
        """For the dedicated ``imgsrc worker`` process: Huey's own main loop and signal handling."""
        self._make_consumer(handler, workers, Consumer).run()

    def stop_consumer(self) -> None:
        if self._consumer is not None:
            self._consumer.stop(graceful=True)
            self._wake.set()  # idle workers wait on this event, not on the consumer's stop flag
            self._consumer = None

    def close(self) -> None:
        self.stop_consumer()
        storage = getattr(self.huey, "storage", None)
        close = getattr(storage, "close", None)
        if callable(close):
            close()
