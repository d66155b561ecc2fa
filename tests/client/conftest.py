"""Fixtures of the SDK tests: the real server (uvicorn on a free loopback port) and clients holding its keys, the
real anonymous registry (``registry``) to import from, a real image archive to upload; plus documents for tests
that script the server's answers with a fake transport."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from imgsrc.client import Client
from imgsrc.settings import Settings
from tests.conftest import make_settings
from tests.support.baseimage import make_busybox_layout
from tests.support.registry import RunningRegistry, registry
from tests.support.server import LiveServer, live_server

__all__ = ["registry"]


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


IMAGE_ID = "6b0a5bee1c2d3e4f5a6b7c8d"
HUB_ID = "6b0a5bee402a0491e8693646"
SOURCE_ID = "6b0a5bee0a1b2c3d4e5f6a7b"
DIGEST = "sha256:" + "ab" * 32


def image_document(
    state: str = "new", *, token: str | None = None, origin: dict[str, Any] | None = None, image_id: str = IMAGE_ID
) -> dict[str, Any]:
    """An image as the server answers it: of a cycle-upload source (holding ``token`` if given, as in the answer
    that created it) unless ``origin`` says otherwise; ``live`` images carry a digest and a size."""
    live = state == "live"
    if origin is None:
        details: dict[str, Any] = {"token": token, "expires": WHEN} if token is not None else {}
        origin = {"type": "cycle-upload", "details": details}
    return {
        "id": image_id,
        "hub_id": HUB_ID,
        "name": "uploaded",
        "size": 4096 if live else 0,
        "about": {"description": None},
        "backend": {
            "provider": "local" if live else "",
            "size": 4096 if live else 0,
            "file_name": "",
            "file_id": DIGEST if live else "",
        },
        "requires": {"nvidia_gpu": False},
        "build": None,
        "builder": None,
        "config": {},
        "source": {"type": "direct", "details": {"id": SOURCE_ID, "origin": origin}},
        "creator": {"id": "6b0a5bee7d3dfcb93f0b89e4", "type": "api-key"},
        "factory": None,
        "state": {"current": state, "changed": WHEN},
        "events": {"created": WHEN, "updated": WHEN, "deleted": ZERO},
        "meta": {},
    }


def registry_origin(reg: RunningRegistry, target: str) -> dict[str, Any]:
    """A ``docker-registry`` origin for ``target`` on a test registry (plain http: the URL says so)."""
    return {"type": "docker-registry", "details": {"target": target, "url": reg.url}}


@dataclass(frozen=True)
class UploadArchive:
    """A real image archive for uploads: the busybox test image as skopeo writes an OCI archive of it."""

    path: Path
    manifest_digest: str


@pytest.fixture(scope="session")
def upload_archive(tmp_path_factory: pytest.TempPathFactory) -> UploadArchive:
    work = tmp_path_factory.mktemp("upload-archive")
    base = make_busybox_layout(work / "layout")
    path = work / "busybox-oci.tar"
    subprocess.run(
        ["skopeo", "copy", "--quiet", f"oci:{base.layout}:latest", f"oci-archive:{path}:latest"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return UploadArchive(path, base.manifest_digest)
