"""Jobs: persisted rows with leases. A job whose runner died is run again; the Redis queue works like the embedded
one; nothing is lost across a restart."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from imgsrc.api.app import create_app
from imgsrc.db import Database
from imgsrc.jobs.models import JobRow
from imgsrc.wire import utcnow
from tests.api.helpers import new_source, wait_job
from tests.conftest import Api, make_settings
from tests.support.databases import redis_url, unavailable


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _stop_workers(client: TestClient) -> None:
    workers = client.app.state.workers  # type: ignore[attr-defined]
    workers.stop()


def _orphaned_job(api: Any, client: TestClient, settings: Any, *, owner: str, expires: timedelta, attempts: int) -> str:
    """A source deletion job left `running` by a runner that is gone (no worker of this server runs jobs)."""
    _stop_workers(client)
    source = new_source(api)
    job_id = str(api.delete(f"/v1/images/sources/{source['id']}").json()["data"]["job"]["id"])
    db = Database(settings.resolved_database_url)
    with db.session() as session:
        session.execute(
            update(JobRow)
            .where(JobRow.id == job_id)
            .values(state="running", lease_owner=owner, lease_expires=utcnow() + expires, attempts=attempts)
        )
    db.dispose()
    return job_id


def _recovered(api: Any, settings: Any, job_id: str) -> dict[str, Any]:
    """The job as a new server on the same store leaves it."""
    with TestClient(create_app(settings)) as second:
        return wait_job(Api(second, api.hub_id, api.key), job_id)


def test_a_job_whose_runner_died_is_run_again(api: Any, client: TestClient, settings: Any) -> None:
    """A job left `running` by a process of this host that no longer exists is queued again at once, although
    its lease has an hour to go, and completes."""
    owner = f"{socket.gethostname()}:{_dead_pid()}:dead"
    job_id = _orphaned_job(api, client, settings, owner=owner, expires=timedelta(hours=1), attempts=1)
    job = _recovered(api, settings, job_id)
    assert job["state"]["current"] == "completed", job
    source_id = job["tasks"][0]["input"]["source_id"]
    assert api.get(f"/v1/images/sources/{source_id}").json()["data"]["state"]["current"] == "deleted"


def test_a_job_with_an_expired_lease_is_taken_back(api: Any, client: TestClient, settings: Any) -> None:
    job_id = _orphaned_job(api, client, settings, owner="elsewhere:1:gone", expires=timedelta(seconds=-1), attempts=1)
    assert _recovered(api, settings, job_id)["state"]["current"] == "completed"


def test_a_job_that_keeps_losing_its_runner_fails_for_good(api: Any, client: TestClient, settings: Any) -> None:
    job_id = _orphaned_job(api, client, settings, owner="elsewhere:1:gone", expires=timedelta(seconds=-1), attempts=5)
    job = _recovered(api, settings, job_id)
    assert job["state"]["current"] == "error"
    assert "gave up after 5 attempts" in job["state"]["error"]["message"]


def test_restarting_the_server_loses_nothing(api: Any, client: TestClient, settings: Any) -> None:
    source = new_source(
        api, name="persistent", origin={"type": "docker-hub", "details": {"target": "redis", "token": "kept-secret"}}
    )
    keys = api.post("/v1/hubs/current/api-keys", json={"name": "second", "capabilities": ["images-sources-view"]})
    second_key = keys.json()["data"]["secret"]
    client.__exit__(None, None, None)
    with TestClient(create_app(settings)) as again:
        restarted = Api(again, api.hub_id, api.key)
        assert restarted.get(f"/v1/images/sources/{source['id']}").json()["data"] == source | {"meta": {}}
        assert Api(again, api.hub_id, second_key).get("/v1/images/sources").status_code == 200
    # the first start's bootstrap file is not rewritten
    assert json.loads((settings.data_dir / "bootstrap.json").read_text())["api_key"] == api.key


@pytest.mark.redis
def test_jobs_travel_over_redis(tmp_path: Any) -> None:
    import redis

    url = redis_url()
    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as exc:
        unavailable("Redis", exc)
    settings = make_settings(tmp_path / "data", queue_url=url, queue_name=f"imgsrc-test-{uuid.uuid4().hex[:8]}")
    with TestClient(create_app(settings)) as client:
        boot = json.loads((settings.data_dir / "bootstrap.json").read_text())
        api = Api(client, boot["hub_id"], boot["api_key"])
        source = new_source(api)
        job_id = api.delete(f"/v1/images/sources/{source['id']}").json()["data"]["job"]["id"]
        assert wait_job(api, job_id)["state"]["current"] == "completed"
    assert not (settings.data_dir / "queue.db").exists()  # the embedded queue was not used
