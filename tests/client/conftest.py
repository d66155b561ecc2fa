"""Fixtures of the SDK tests: the real server (uvicorn on a free loopback port) and clients holding its keys;
plus documents for tests that script the server's answers with an httpx ``MockTransport``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imgsrc.client import Client
from imgsrc.settings import Settings
from tests.conftest import make_settings
from tests.support.server import LiveServer, live_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """The real server on SQLite, with in-process workers."""
    with live_server(make_settings(tmp_path / "data")) as running:
        yield running


@pytest.fixture
def sdk(server: LiveServer) -> Iterator[Client]:
    """A client holding the bootstrap admin key (capability ``all``)."""
    with Client(server.url, server.api_key, server.hub_id) as client:
        yield client


@pytest.fixture
def backend_sdk(settings: Settings) -> Iterator[Client]:
    """A client of the real server on each store of record (SQLite and PostgreSQL)."""
    with live_server(settings) as running, Client(running.url, running.api_key, running.hub_id) as client:
        yield client


ZERO = "0001-01-01T00:00:00Z"
WHEN = "2026-11-28T03:55:00.123Z"
JOB_ID = "6b0a5bee9a4d034fae8d7deb"


def job_document(state: str, message: str | None = None, job_id: str = JOB_ID) -> dict[str, Any]:
    """A job as ``GET /v1/jobs/{id}`` answers it, in ``state``."""
    error = {"message": message} if message is not None else None
    events = {"queued": WHEN, "started": WHEN, "completed": ZERO}
    task_state = {"completed": "completed", "error": "error", "expired": "error"}.get(state, "running")
    return {
        "id": job_id,
        "hub_id": "6b0a5bee402a0491e8693646",
        "queue": "images",
        "caption": "Delete image source",
        "events": events,
        "schedule": WHEN,
        "expires": WHEN,
        "tasks": [
            {
                "id": "6b0a5beee40d6c9ac865efd2",
                "caption": "Delete image source",
                "header": "image.source.delete",
                "events": events,
                "steps": [],
                "state": {"current": task_state, "changed": WHEN},
                "error": error,
                "input": {},
                "output": None,
            }
        ],
        "hash": "0" * 64,
        "limit_duplicates": False,
        "creator": {"id": "6b0a5bee7d3dfcb93f0b89e4", "type": "api-key"},
        "state": {"current": state, "changed": WHEN, "error": error},
    }
