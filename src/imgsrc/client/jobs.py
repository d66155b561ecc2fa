"""``client.jobs``: reading and waiting for jobs (``/v1/jobs``).

Waiting polls ``GET /v1/jobs/{id}`` until the job is ``completed`` (returned), ``error`` or ``expired``
(:class:`~imgsrc.client.errors.JobFailedError` carrying the job's message), or the caller's timeout passes
(:class:`~imgsrc.client.errors.JobTimeoutError`). A long wait rides out a server restart: a few consecutive
*named* transient failures (unreachable server, 503 not-ready, 429 rate-limited) are tolerated; any other error
ends the wait at once.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from imgsrc.client.bodies import segment
from imgsrc.client.errors import JobFailedError, JobTimeoutError
from imgsrc.client.http import AsyncHttp, Call, SyncHttp, many, one
from imgsrc.client.query import Page, Values, list_params, next_page
from imgsrc.errors import ImgsrcError, InvalidArgumentError, NotReadyError, RateLimitedError
from imgsrc.jobs.schemas import Job, JobDescriptor

__all__ = ["MAX_TRANSIENT_FAILURES", "AsyncJobs", "JobCalls", "JobRef", "Jobs"]

PATH = "/v1/jobs"
ITER_PAGE_SIZE = 100
MAX_TRANSIENT_FAILURES = 5
TRANSIENT = (NotReadyError, RateLimitedError)  # NotReadyError includes ClientConnectionError

JobRef = str | JobDescriptor | Job
OnUpdate = Callable[[Job], object]


def job_id_of(target: JobRef) -> str:
    """The ID of a job given as an ID, a descriptor (the answer of a call that started it) or a job."""
    if isinstance(target, Job):
        return target.id
    if isinstance(target, JobDescriptor):
        if target.job is None:
            raise InvalidArgumentError(f"the `{target.action}` descriptor names no job to follow")
        return target.job.id
    return target


def failure_message(job: Job) -> str:
    """The job's own account of why it failed."""
    if job.state.error is not None:
        return job.state.error.message
    for task in job.tasks:
        if task.error is not None:
            return task.error.message
    return f"the job ended in state `{job.state.current}`"


@dataclass
class _Wait:
    """The bookkeeping of one wait (pure apart from reading the clock)."""

    job_id: str
    timeout: float | None
    poll: float
    clock: Callable[[], float] = time.monotonic
    started: float = field(init=False)
    failures: int = 0
    last: Job | None = None

    def __post_init__(self) -> None:
        self.started = self.clock()

    def done(self, job: Job) -> bool:
        """Record a read; true when the job completed, raise when it failed."""
        self.failures, self.last = 0, job
        if job.state.current == "completed":
            return True
        if job.state.current in ("error", "expired"):
            raise JobFailedError(failure_message(job), job=job)
        return False

    def failed(self, exc: ImgsrcError) -> None:
        """Record a transient failure; re-raise it when too many came in a row."""
        self.failures += 1
        if self.failures > MAX_TRANSIENT_FAILURES:
            raise exc

    def delay(self) -> float:
        """How long to sleep before the next read; raise when the timeout has passed."""
        if self.timeout is None:
            return self.poll
        remaining = self.timeout - (self.clock() - self.started)
        if remaining <= 0:
            state = self.last.state.current if self.last else "unknown"
            raise JobTimeoutError(
                f"job {self.job_id} did not finish within {self.timeout:g}s (last state: {state})", job=self.last
            )
        return min(self.poll, remaining)


class JobCalls:
    """Descriptions of the job calls (no I/O)."""

    @staticmethod
    def get(job: JobRef) -> Call[Job]:
        return Call("GET", f"{PATH}/{segment(job_id_of(job))}", one(Job))

    @staticmethod
    def list(*, state: Values = None, page: int | None = None, page_size: int | None = None) -> Call[Page[Job]]:
        return Call(
            "GET", PATH, many(Job), params=list_params(filters={"state": state}, page=page, page_size=page_size)
        )


class Jobs:
    """Jobs of the client's hub."""

    def __init__(self, http: SyncHttp) -> None:
        self._http = http

    def get(self, job: JobRef) -> Job:
        """A job by ID (or the job a descriptor names); ``NotFoundError`` (``404.job``) if the hub has none."""
        return self._http.run(JobCalls.get(job))

    def list(self, *, state: Values = None, page: int | None = None, page_size: int | None = None) -> Page[Job]:
        """One page of the hub's jobs, newest first; ``state`` filters (``"running"`` or ``["error", "expired"]``)."""
        return self._http.run(JobCalls.list(state=state, page=page, page_size=page_size))

    def iter(self, *, state: Values = None, page_size: int = ITER_PAGE_SIZE) -> Iterator[Job]:
        """Every matching job, page after page."""
        number: int | None = 1
        seen = 0
        while number is not None:
            batch = self._http.run(JobCalls.list(state=state, page=number, page_size=page_size))
            seen += len(batch)
            yield from batch
            number = next_page(number, len(batch), page_size, seen, batch.total)

    def wait(
        self, job: JobRef, *, timeout: float | None = None, poll: float = 2.0, on_update: OnUpdate | None = None
    ) -> Job:
        """Poll every ``poll`` seconds until the job is ``completed`` and return it. ``on_update`` is called with
        every job read (to show progress). Raises ``JobFailedError`` on ``error``/``expired`` and
        ``JobTimeoutError`` once ``timeout`` seconds (``None``: no limit) have passed."""
        wait = _Wait(job_id_of(job), timeout, poll)
        while True:
            try:
                current = self.get(wait.job_id)
            except TRANSIENT as exc:
                wait.failed(exc)
            else:
                if on_update is not None:
                    on_update(current)
                if wait.done(current):
                    return current
            time.sleep(wait.delay())


class AsyncJobs:
    """:class:`Jobs`, asynchronously. ``on_update`` may be a plain function or a coroutine function."""

    def __init__(self, http: AsyncHttp) -> None:
        self._http = http

    async def get(self, job: JobRef) -> Job:
        """See :meth:`Jobs.get`."""
        return await self._http.run(JobCalls.get(job))

    async def list(self, *, state: Values = None, page: int | None = None, page_size: int | None = None) -> Page[Job]:
        """See :meth:`Jobs.list`."""
        return await self._http.run(JobCalls.list(state=state, page=page, page_size=page_size))

    async def iter(self, *, state: Values = None, page_size: int = ITER_PAGE_SIZE) -> AsyncIterator[Job]:
        """See :meth:`Jobs.iter`."""
        number: int | None = 1
        seen = 0
        while number is not None:
            batch = await self._http.run(JobCalls.list(state=state, page=number, page_size=page_size))
            seen += len(batch)
            for item in batch:
                yield item
            number = next_page(number, len(batch), page_size, seen, batch.total)

    async def wait(
        self,
        job: JobRef,
        *,
        # Same signature as Jobs.wait on purpose (one API, sync or async); asyncio.timeout() works around it too.
        timeout: float | None = None,  # noqa: ASYNC109
        poll: float = 2.0,
        on_update: Callable[[Job], object | Awaitable[object]] | None = None,
    ) -> Job:
        """See :meth:`Jobs.wait`."""
        wait = _Wait(job_id_of(job), timeout, poll)
        while True:
            try:
                current = await self.get(wait.job_id)
            except TRANSIENT as exc:
                wait.failed(exc)
            else:
                if on_update is not None:
                    result = on_update(current)
                    if inspect.isawaitable(result):
                        await result
                if wait.done(current):
                    return current
            await asyncio.sleep(wait.delay())
