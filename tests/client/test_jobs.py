"""Reading and waiting for jobs: against the real server, and with scripted answers for the failure paths."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from imgsrc.client import Client, Job, JobFailedError, JobTimeoutError, NotFoundError, NotReadyError
from imgsrc.client.jobs import MAX_TRANSIENT_FAILURES
from imgsrc.errors import InvalidArgumentError
from imgsrc.jobs.schemas import JobDescriptor
from tests.client.conftest import JOB_ID, job_document

Reply = Callable[[httpx.Request], httpx.Response]


def scripted(*replies: Reply) -> Client:
    """A client whose server answers with ``replies`` in turn (the last one repeats)."""
    queue: Iterator[Reply] = iter(replies)
    last: list[Reply] = []

    def handler(request: httpx.Request) -> httpx.Response:
        reply = next(queue, None)
        if reply is None:
            reply = last[0]
        else:
            last[:] = [reply]
        return reply(request)

    return Client("http://imgsrc.test", "imgsrc_key", "0" * 24, transport=httpx.MockTransport(handler))


def job(state: str, message: str | None = None) -> Reply:
    return lambda request: httpx.Response(200, json={"data": job_document(state, message)})


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def test_wait_follows_a_real_job_to_completion(sdk: Client) -> None:
    """``wait`` accepts the descriptor a deletion answers, reports every read, and returns the completed job."""
    source = sdk.sources.create(origin={"type": "none"})
    seen: list[Job] = []
    done = sdk.jobs.wait(sdk.sources.delete(source.id), timeout=30, poll=0.05, on_update=seen.append)
    assert done.state.current == "completed"
    assert seen[-1] == done
    assert sdk.jobs.get(done.id) == done
    assert done.id in [j.id for j in sdk.jobs.list(state="completed")]
    assert [j.id for j in sdk.jobs.iter(page_size=1)] == [done.id]


def test_unknown_job_is_not_found(sdk: Client) -> None:
    with pytest.raises(NotFoundError) as caught:
        sdk.jobs.get("f" * 24)
    assert caught.value.code == "404.job"


def test_wait_raises_the_jobs_own_message_on_error() -> None:
    """A job that ends in ``error`` raises JobFailedError with the job's message and the job itself."""
    client = scripted(job("running"), job("error", "upstream said no"))
    with client, pytest.raises(JobFailedError) as caught:
        client.jobs.wait(JOB_ID, poll=0)
    assert caught.value.detail == "upstream said no"
    assert caught.value.job.state.current == "error"


def test_wait_treats_expired_as_failure() -> None:
    with scripted(job("expired")) as client, pytest.raises(JobFailedError) as caught:
        client.jobs.wait(JOB_ID, poll=0)
    assert "expired" in caught.value.detail


def test_wait_times_out_with_the_last_state() -> None:
    """Past the timeout, JobTimeoutError names the job and its last state (the job may still finish later)."""
    with scripted(job("running")) as client, pytest.raises(JobTimeoutError) as caught:
        client.jobs.wait(JOB_ID, timeout=0, poll=0)
    assert caught.value.job is not None
    assert caught.value.job.state.current == "running"
    assert JOB_ID in caught.value.detail
    assert "running" in caught.value.detail


def test_wait_rides_out_a_few_transient_failures() -> None:
    """Connection failures and 503s between reads (a server restart) do not end the wait."""
    unavailable: Reply = lambda request: httpx.Response(  # noqa: E731
        503, json={"error": {"status": 503, "code": "503.not-ready", "title": "Not ready"}, "data": None}
    )
    with scripted(job("running"), refused, unavailable, refused, job("completed")) as client:
        assert client.jobs.wait(JOB_ID, poll=0).state.current == "completed"


def test_wait_gives_up_after_too_many_consecutive_failures() -> None:
    with scripted(*([refused] * (MAX_TRANSIENT_FAILURES + 1))) as client, pytest.raises(NotReadyError):
        client.jobs.wait(JOB_ID, poll=0)


def test_wait_stops_at_once_on_a_non_transient_error() -> None:
    """A 404 while waiting is not retried."""
    calls: list[str] = []

    def gone(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(404, json={"error": {"status": 404, "code": "404.job", "title": "Not found"}})

    with scripted(gone) as client, pytest.raises(NotFoundError):
        client.jobs.wait(JOB_ID, poll=0)
    assert calls == [f"/v1/jobs/{JOB_ID}"]


def test_wait_on_a_descriptor_without_a_job_is_refused() -> None:
    with scripted(job("completed")) as client, pytest.raises(InvalidArgumentError):
        client.jobs.wait(JobDescriptor(action="delete"))
