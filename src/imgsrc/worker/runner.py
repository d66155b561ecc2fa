"""Runs jobs: one asyncio event loop per job, a heartbeat beside it, the outcome written to the job row.

A job runs in the queue consumer's thread. While it runs, a heartbeat extends its lease and watches for a
cancellation request (set by, for example, deleting the image being imported); a lost lease or a cancellation
cancels the job's coroutine. Failures are recorded on the job (and by the handler on its resource) with a
message meant for the user; unexpected exceptions are logged with their traceback and recorded without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import timedelta
from typing import Any

from imgsrc.db import Database
from imgsrc.errors import ImgsrcError
from imgsrc.jobs.context import Handler
from imgsrc.wire import utcnow
from imgsrc.worker.leases import Claim, Leases, runner_identity

__all__ = ["JobRunner", "RunningJob"]

log = logging.getLogger(__name__)
_PROGRESS_INTERVAL = 0.5


class RunningJob:
    """The :class:`~imgsrc.jobs.context.JobContext` of one run."""

    def __init__(self, claim: Claim, leases: Leases) -> None:
        self.job_id = claim.job_id
        self.hub_id = claim.hub_id
        self.action = claim.action
        self.input = claim.input
        self.attempt = claim.attempt
        self._leases = leases
        self._steps: list[dict[str, Any]] = []
        self._progress: dict[str, Any] = {}
        self._progress_written = 0.0
        self.cancel_reason: str | None = None

    @contextlib.asynccontextmanager
    async def step(self, caption: str, description: str = "") -> AsyncIterator[None]:
        record = {"caption": caption, "description": description, "started": utcnow().wire(), "completed": None}
        self._steps.append(record)
        await self.run_sync(self._leases.record_progress, self.job_id, steps=list(self._steps))
        yield
        record["completed"] = utcnow().wire()
        await self.run_sync(self._leases.record_progress, self.job_id, steps=list(self._steps))

    async def progress(self, *, flush: bool = False, **values: Any) -> None:
        self._progress.update(values)
        now = time.monotonic()
        if flush or now - self._progress_written >= _PROGRESS_INTERVAL:
            self._progress_written = now
            await self.run_sync(self._leases.record_progress, self.job_id, progress=dict(self._progress))

    async def run_sync(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(function, *args, **kwargs)


class JobRunner:
    """Claims and runs jobs for one process."""

    def __init__(self, db: Database, handlers: Mapping[str, Handler], *, lease_seconds: float) -> None:
        self.db = db
        self.handlers = dict(handlers)
        self.leases = Leases(db, runner_identity(), timedelta(seconds=lease_seconds))
        self.lease_seconds = lease_seconds
        self._active: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = {}
        self._lock = threading.Lock()
        self._stopping = False

    # --- entry point from the queue ----------------------------------------------------------------------------

    def run(self, job_id: str) -> None:
        """Run one job to its end (or until this process stops). Never raises: the outcome is on the job row."""
        if self._stopping:
            return
        try:
            claim = self.leases.claim(job_id)
        except ImgsrcError:
            log.exception("could not claim job %s", job_id)
            return
        if claim is None:
            return
        handler = self.handlers.get(claim.header)
        if handler is None:
            self.leases.fail(job_id, f"no handler for `{claim.header}` jobs")
            return
        log.info("job %s (%s) started, attempt %d", job_id, claim.action, claim.attempt)
        asyncio.run(self._execute(claim, handler))

    async def _execute(self, claim: Claim, handler: Handler) -> None:
        job = RunningJob(claim, self.leases)
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - asyncio.run always runs a task
            raise RuntimeError("a job must run inside an asyncio task")
        with self._lock:
            self._active[claim.job_id] = (asyncio.get_running_loop(), task)
        beat = asyncio.create_task(self._heartbeat(job, task))
        try:
            output = await handler(job)
        except asyncio.CancelledError:
            if self._stopping and job.cancel_reason is None:
                await asyncio.to_thread(self.leases.release, claim.job_id)
                log.info("job %s released: this process is stopping", claim.job_id)
            else:
                reason = job.cancel_reason or "cancelled"
                await asyncio.to_thread(self.leases.fail, claim.job_id, reason)
                log.info("job %s cancelled: %s", claim.job_id, reason)
        except ImgsrcError as exc:
            await asyncio.to_thread(self.leases.fail, claim.job_id, exc.detail)
            log.info("job %s failed: %s", claim.job_id, exc.detail)
        except Exception:
            log.exception("job %s crashed", claim.job_id)
            await asyncio.to_thread(
                self.leases.fail, claim.job_id, "internal error while running the job (see server log)"
            )
        else:

            def complete() -> None:
                with self.db.session() as session:
                    self.leases.complete(session, claim.job_id, output)

            await asyncio.to_thread(complete)
            log.info("job %s completed", claim.job_id)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            with self._lock:
                self._active.pop(claim.job_id, None)

    async def _heartbeat(self, job: RunningJob, task: asyncio.Task[Any]) -> None:
        interval = max(0.2, min(self.lease_seconds / 3, 2.0))
        while True:
            await asyncio.sleep(interval)
            try:
                ours, cancel = await asyncio.to_thread(self.leases.heartbeat, job.job_id)
            except ImgsrcError:
                log.warning("job %s: heartbeat failed; will retry", job.job_id)
                continue
            if not ours:
                job.cancel_reason = "the job was taken over by another worker after its lease ran out"
                task.cancel()
                return
            if cancel:
                job.cancel_reason = "cancelled"
                task.cancel()
                return

    # --- lifecycle -----------------------------------------------------------------------------------------------

    def recover(self, enqueue: Callable[[str], None]) -> int:
        """One recovery pass (see :meth:`Leases.recover`); sends what it finds to the queue."""
        ids = self.leases.recover()
        for job_id in ids:
            enqueue(job_id)
        return len(ids)

    def stop(self) -> None:
        """Stop taking jobs and cancel the running ones; they go back to the queue for the next runner."""
        self._stopping = True
        with self._lock:
            active = list(self._active.values())
        for loop, task in active:
            loop.call_soon_threadsafe(task.cancel)
