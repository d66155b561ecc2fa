"""Fixtures shared by every test: settings on a temporary data directory, the database backends (SQLite, and
PostgreSQL which CI requires), and an API client holding the bootstrap admin key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from imgsrc.api.app import create_app
from imgsrc.settings import Settings
from tests.support.databases import PostgresDatabase, unavailable


@pytest.fixture(scope="session")
def _postgres_database() -> Iterator[PostgresDatabase | Exception]:
    try:
        database: PostgresDatabase | Exception = PostgresDatabase()
    except Exception as exc:
        database = exc
    yield database
    if isinstance(database, PostgresDatabase):
        database.drop()


@pytest.fixture
def postgres_url(_postgres_database: PostgresDatabase | Exception) -> str:
    """A migrated, empty PostgreSQL database (skipped without a server, unless CI=true)."""
    if isinstance(_postgres_database, Exception):
        unavailable("PostgreSQL", _postgres_database)
        raise AssertionError("unreachable")
    _postgres_database.truncate()
    return _postgres_database.url


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "data_dir": data_dir,
        "secret_key": None,
        "database_url": None,
        "queue_url": None,
        "workers": 2,
        "job_lease_seconds": 5.0,
        "job_recover_seconds": 0.5,
        "job_poll_seconds": 0.05,
    }
    base.update(overrides)
    return Settings(**base)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """The store of record under test: SQLite (the embedded default) and PostgreSQL."""
    return str(request.param)


@pytest.fixture
def settings(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Settings:
    database_url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    return make_settings(tmp_path / "data", database_url=database_url)


class Api:
    """A test client that sends the hub and key of one API key."""

    def __init__(self, client: TestClient, hub_id: str, key: str) -> None:
        self.client = client
        self.hub_id = hub_id
        self.key = key

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", "X-Hub-Id": self.hub_id}

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> Any:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Any:
        return self.request("DELETE", url, **kwargs)

    def as_key(self, key: str, hub_id: str | None = None) -> Api:
        return Api(self.client, hub_id or self.hub_id, key)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def api(client: TestClient, settings: Settings) -> Api:
    boot = json.loads((settings.data_dir / "bootstrap.json").read_text())
    return Api(client, boot["hub_id"], boot["api_key"])
