"""Fixtures of the factory tests: a server (in-process workers) whose Docker Hub endpoints point at local
stand-ins, the real registries of :mod:`tests.support.registry`, and helpers to import images through the API."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from imgsrc.api.app import create_app
from tests.conftest import Api, make_settings
from tests.support.faults import FaultProxy, start_fault_proxy
from tests.support.registry import RunningRegistry, basic_registry, registry, token_registry

__all__ = ["basic_registry", "registry", "token_registry"]


class Factory(Api):
    """An API client bound to a running server, with helpers for imports."""

    data_dir: Path

    def source(self, origin: dict[str, Any], **fields: Any) -> dict[str, Any]:
        response = self.post("/v1/images/sources", json={"type": "direct", "origin": origin, **fields})
        assert response.status_code == 201, response.text
        return response.json()["data"]  # type: ignore[no-any-return]

    def image(self, source_id: str, **fields: Any) -> dict[str, Any]:
        response = self.post("/v1/images", json={"source_id": source_id, **fields})
        assert response.status_code == 201, response.text
        return response.json()["data"]  # type: ignore[no-any-return]

    def start_import(self, image_id: str) -> str:
        response = self.post(f"/v1/images/{image_id}/tasks", json={"action": "import"})
        assert response.status_code == 200, response.text
        return str(response.json()["data"]["job"]["id"])

    def wait(self, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(f"/v1/jobs/{job_id}").json()["data"]
            if job["state"]["current"] in ("completed", "error", "expired"):
                return job  # type: ignore[no-any-return]
            assert time.monotonic() < deadline, f"job {job_id} still {job['state']['current']}"
            time.sleep(0.05)

    def import_image(self, origin: dict[str, Any], **image_fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """Create a source and an image, import it, wait: (the image as it ended, the job)."""
        source = self.source(origin)
        image = self.image(source["id"], **image_fields)
        job = self.wait(self.start_import(image["id"]))
        return self.get(f"/v1/images/{image['id']}").json()["data"], job

    def log(self, image_id: str) -> str:
        response = self.get(f"/v1/images/{image_id}/build-log")
        assert response.status_code == 200, response.text
        return str(response.json()["data"]["log"])

    def store_has(self, digest: str) -> bool:
        return (self.data_dir / "store" / "blobs" / "sha256" / digest.split(":", 1)[1]).exists()


@contextlib.contextmanager
def running_factory(data_dir: Path, **overrides: Any) -> Iterator[Factory]:
    settings = make_settings(data_dir, **overrides)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        boot = json.loads((data_dir / "bootstrap.json").read_text())
        factory = Factory(client, boot["hub_id"], boot["api_key"])
        factory.data_dir = data_dir
        yield factory


FactoryMaker = Callable[..., contextlib.AbstractContextManager[Factory]]


@pytest.fixture
def make_factory(tmp_path: Path) -> FactoryMaker:
    """``with make_factory(**settings_overrides) as factory``: a fresh server on its own data directory."""
    counter = iter(range(1000))

    def maker(**overrides: Any) -> contextlib.AbstractContextManager[Factory]:
        return running_factory(tmp_path / f"data-{next(counter)}", **overrides)

    return maker


@pytest.fixture
def factory(make_factory: FactoryMaker, token_registry: RunningRegistry) -> Iterator[Factory]:
    """A server whose `docker-hub` sources resolve against the local token registry (Docker Hub's flow)."""
    with make_factory(dockerhub_registry_url=token_registry.url, dockerhub_auth_url=token_registry.token_realm) as f:
        yield f


@pytest.fixture
def proxy(registry: RunningRegistry) -> Iterator[FaultProxy]:
    """The fault-injecting proxy in front of the plain registry (counts requests, injects failures)."""
    with start_fault_proxy(registry.url) as running:
        yield running


def origin_via(proxy: FaultProxy, target: str) -> dict[str, object]:
    """A docker-registry origin that reaches the registry through ``proxy``."""
    return {"type": "docker-registry", "details": {"target": target, "url": proxy.url}}


def registry_origin(reg: RunningRegistry, target: str, *, kind: str = "docker-registry") -> dict[str, Any]:
    details: dict[str, Any] = {"target": target, "url": reg.url}
    creds = reg.credentials
    if kind == "docker-registry":
        if creds:
            details |= {"username": creds[0], "password": creds[1]}
        return {"type": "docker-registry", "details": details}
    if creds:
        details["auth"] = {"type": "user", "details": {"username": creds[0], "token": creds[1]}}
    return {"type": "oci-registry", "details": details}
