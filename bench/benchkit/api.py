"""The few API calls the benchmarks make, over plain httpx (no SDK layer in the measured path).

:meth:`Api.import_new_image` is the measured unit of an import: create the image, start its import job, poll the
job every ``poll_seconds`` until it ends, and read the image back; the time runs from the first request to the
answer that shows the image ``live``.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchkit.server import ImgsrcServer

__all__ = ["Api", "ImportResult", "job_seconds"]

_FINISHED = ("completed", "error", "expired")


@dataclass(frozen=True)
class ImportResult:
    """One import through the API, timed three ways:

    - ``seconds``: from the first request to the answer showing the image live, as the client sees it — which
      rounds the true time up to the next poll (up to ``poll_seconds`` more);
    - ``live_seconds``: from the first request (client clock) to the job's ``completed`` event (server clock,
      millisecond timestamps; the same host, so the same clock): the same span without the polling's rounding;
    - ``job_seconds``: the job's ``queued`` → ``completed``, of which ``pickup_seconds`` from ``queued`` to
      ``started`` (the wait for a worker).
    """

    seconds: float
    live_seconds: float
    job_seconds: float
    pickup_seconds: float
    image_id: str
    job_id: str
    image: dict[str, Any]
    job: dict[str, Any]

    def steps(self) -> dict[str, float]:
        """Seconds of each step the job recorded (caption → duration)."""
        return {
            step["caption"]: (_instant(step["completed"]) - _instant(step["started"])).total_seconds()
            for task in self.job.get("tasks") or []
            for step in task.get("steps") or []
        }


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def job_seconds(job: dict[str, Any], start: str = "queued", end: str = "completed") -> float:
    """Seconds from the job's ``start`` event to its ``end`` event."""
    events = job["events"]
    return (_instant(events[end]) - _instant(events[start])).total_seconds()


class Api:
    """An API client of one server, authenticated as the bootstrap hub's admin key."""

    def __init__(self, server: ImgsrcServer, *, timeout: float = 120.0) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.url, headers=server.headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _data(self, response: httpx.Response, *expected: int) -> Any:
        if response.status_code not in expected:
            raise RuntimeError(f"{response.request.method} {response.request.url.path}: {response.status_code} "
                               f"{response.text[:2000]}")  # fmt: skip
        return response.json()["data"]

    def create_source(self, origin: dict[str, Any], name: str = "bench") -> dict[str, Any]:
        body = {"type": "direct", "origin": origin, "name": name}
        data: dict[str, Any] = self._data(self.http.post("/v1/images/sources", json=body), 201)
        return data

    def create_image(self, source_id: str, name: str = "bench") -> dict[str, Any]:
        body = {"source_id": source_id, "name": name}
        data: dict[str, Any] = self._data(self.http.post("/v1/images", json=body), 201)
        return data

    def start_import(self, image_id: str) -> str:
        answer = self._data(self.http.post(f"/v1/images/{image_id}/tasks", json={"action": "import"}), 200)
        return str(answer["job"]["id"])

    def job(self, job_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self._data(self.http.get(f"/v1/jobs/{job_id}"), 200)
        return data

    def image(self, image_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self._data(self.http.get(f"/v1/images/{image_id}"), 200)
        return data

    def upload(self, image: dict[str, Any], archive: Path) -> tuple[float, dict[str, Any]]:
        """``POST /v1/images/{id}/upload`` of ``archive`` as the multipart part ``file.tar``, streamed from the
        file (httpx reads it in chunks and declares the length); authorised by the image's one-time token, not
        the API key. Returns the seconds the call took and the live image it answered."""
        token = image["source"]["details"]["origin"]["details"]["token"]
        params = {"hub-id": self.server.hub_id, "token": token}
        with archive.open("rb") as handle, httpx.Client(base_url=self.server.url, timeout=self.http.timeout) as bare:
            files = {"file.tar": (archive.name, handle, "application/x-tar")}
            started = time.perf_counter()
            response = bare.post(f"/v1/images/{image['id']}/upload", params=params, files=files)
            seconds = time.perf_counter() - started
        data: dict[str, Any] = self._data(response, 200)
        return seconds, data

    def build_log(self, image_id: str) -> str:
        return str(self._data(self.http.get(f"/v1/images/{image_id}/build-log"), 200)["log"])

    def wait_job(self, job_id: str, *, poll_seconds: float = 0.1, timeout: float = 1800.0) -> dict[str, Any]:
        """Poll the job until it ends (the API's only completion signal) and return it."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["state"]["current"] in _FINISHED:
                return job
            if time.monotonic() > deadline:
                raise RuntimeError(f"job {job_id} still {job['state']['current']} after {timeout:.0f}s")
            time.sleep(poll_seconds)

    def import_new_image(self, source_id: str, *, poll_seconds: float = 0.1) -> ImportResult:
        """Create an image of ``source_id``, import it and wait until it is live; see the module docstring."""
        started, wall_started = time.perf_counter(), time.time()
        image_id = str(self.create_image(source_id)["id"])
        job_id = self.start_import(image_id)
        job = self.wait_job(job_id, poll_seconds=poll_seconds)
        image = self.image(image_id)
        seconds = time.perf_counter() - started
        if job["state"]["current"] != "completed" or image["state"]["current"] != "live":
            raise RuntimeError(
                f"import of image {image_id} ended with job {job['state']} and image {image['state']}:\n"
                f"{self.build_log(image_id)[-3000:]}"
            )
        live = _instant(job["events"]["completed"]).timestamp() - wall_started
        return ImportResult(
            seconds, live, job_seconds(job), job_seconds(job, end="started"), image_id, job_id, image, job
        )
