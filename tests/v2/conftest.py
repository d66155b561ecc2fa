"""One served world for the /v2 tests: a real imgsrc server (uvicorn on a loopback port) into which real images,
built by :mod:`tests.support.images` and pushed to a real registry, were imported through the API.

Hub A (the bootstrap hub) holds: ``app`` (two images, the second newer: ``latest``), ``dock`` (Docker media
types), ``multi`` (imported from a three-platform OCI index), ``guarded`` (an ACL granting ``view`` only to the
role ``insiders``). Hub B holds ``secret``. Keys: A's admin (``all``), ``viewer`` (images-view, role
``outsiders``: not in guarded's ACL), ``insider`` (images-view, role ``insiders``), ``blind`` (no images-view),
and B's admin.
"""

from __future__ import annotations

import base64
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import make_settings
from tests.support.containerd import RunningContainerd, start_containerd
from tests.support.images import GeneratedImage, make_layer, push_image, push_index
from tests.support.registry import RunningRegistry, registry, write_authfile
from tests.support.server import LiveServer, live_server
from tests.support.storage import storage_args

__all__ = ["Served", "World", "containerd", "podman_argv", "podman_storage", "registry", "world"]


class Imgsrc:
    """The /v1 API of the served imgsrc, as one key of one hub."""

    def __init__(self, url: str, hub_id: str, key: str) -> None:
        self.hub_id = hub_id
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {key}", "X-Hub-Id": hub_id}, timeout=30
        )

    def close(self) -> None:
        self.http.close()

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(path, json=body)
        assert response.status_code in (200, 201, 202), response.text
        return response.json()["data"]  # type: ignore[no-any-return]

    def key(self, *capabilities: str, role_id: str | None = None) -> str:
        data = self.post(
            "/v1/hubs/current/api-keys", {"name": "k", "capabilities": list(capabilities), "role_id": role_id}
        )
        return str(data["secret"])

    def source(self, registry: RunningRegistry, target: str, **fields: Any) -> dict[str, Any]:
        origin = {"type": "docker-registry", "details": {"target": target, "url": registry.url}}
        return self.post("/v1/images/sources", {"type": "direct", "origin": origin, **fields})

    def import_image(self, source_id: str, **fields: Any) -> str:
        image = self.post("/v1/images", {"source_id": source_id, **fields})
        job_id = self.post(f"/v1/images/{image['id']}/tasks", {"action": "import"})["job"]["id"]
        deadline = time.monotonic() + 120
        while True:
            job = self.http.get(f"/v1/jobs/{job_id}").json()["data"]
            if job["state"]["current"] in ("completed", "error", "expired"):
                break
            assert time.monotonic() < deadline, job
            time.sleep(0.1)  # the jobs API offers no event to wait on: clients poll, as Cycle's do
        assert job["state"]["current"] == "completed", job
        state = self.http.get(f"/v1/images/{image['id']}").json()["data"]["state"]["current"]
        assert state == "live", state
        return str(image["id"])


@dataclass
class Served:
    """A source and the images imported into it (oldest first), with what was pushed for each."""

    source_id: str
    identifier: str
    image_ids: list[str]
    pushed: list[GeneratedImage] = field(repr=False)

    @property
    def latest(self) -> GeneratedImage:
        return self.pushed[-1]


@dataclass
class World:
    server: LiveServer
    host: str
    hub_id: str
    hub_identifier: str
    app: Served
    dock: Served
    multi: Served
    guarded: Served
    secret: Served
    other_hub_id: str
    keys: dict[str, str] = field(repr=False)
    work: Path

    @property
    def url(self) -> str:
        return self.server.url

    def repo(self, served: Served, *, by_id: bool = False, hub: str | None = None) -> str:
        hub_part = hub or (self.other_hub_id if served is self.secret else self.hub_id)
        return f"{hub_part}/{served.source_id if by_id else served.identifier}"

    def basic(self, key: str = "admin", user: str = "anyone") -> dict[str, str]:
        token = base64.b64encode(f"{user}:{self.keys[key]}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def authfile(self, key: str, directory: Path) -> Path:
        return write_authfile(directory / f"auth-{key}.json", self.host, "anyone", self.keys[key])


@pytest.fixture(scope="session")
def world(registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    work = tmp_path_factory.mktemp("v2-world")
    layers = work / "layers"
    shared = make_layer(layers, 3000)
    app_one = push_image(registry, work, "v2/app", "1", layers=[shared, make_layer(layers, 70_000)])
    app_two = push_image(registry, work, "v2/app", "2", layers=[shared, make_layer(layers, 5000)])
    dock = push_image(registry, work, "v2/dock", flavour="docker", layer_sizes=(4000,))
    multi = push_index(registry, work, "v2/multi", platforms=("linux/amd64", "linux/arm64", "linux/arm/v7"))
    guarded = push_image(registry, work, "v2/guarded", layer_sizes=(1500,))
    secret = push_image(registry, work, "v2/secret", layer_sizes=(2500,))
    settings = make_settings(work / "data", workers=2)
    with live_server(settings) as server:
        a = Imgsrc(server.url, server.hub_id, server.api_key)
        try:
            source = a.source(registry, "v2/app:1", name="App")
            first = a.import_image(source["id"])
            second = a.import_image(source["id"], override={"target": "v2/app:2"})
            app = Served(source["id"], source["identifier"], [first, second], [app_one, app_two])

            def single(target: str, name: str, pushed: GeneratedImage, client: Imgsrc = a, **extra: Any) -> Served:
                created = client.source(registry, target, name=name, **extra)
                return Served(created["id"], created["identifier"], [client.import_image(created["id"])], [pushed])

            insiders = a.post("/v1/hubs/current/roles", {"name": "insiders"})["id"]
            outsiders = a.post("/v1/hubs/current/roles", {"name": "outsiders"})["id"]
            acl = {"roles": {insiders: {"view": True, "modify": False, "manage": False}}}
            served_dock = single("v2/dock:latest", "Dock", dock)
            served_multi = single("v2/multi:latest", "Multi", multi)
            served_guarded = single("v2/guarded:latest", "Guarded", guarded, acl=acl)
            hub = a.http.get("/v1/hubs/current").json()["data"]
            created = a.post("/v1/hubs", {"name": "Other"})
            b = Imgsrc(server.url, created["hub"]["id"], created["api_key"]["secret"])
            try:
                served_secret = single("v2/secret:latest", "Secret", secret, client=b)
            finally:
                b.close()
            keys = {
                "admin": server.api_key,
                "viewer": a.key("images-view", role_id=outsiders),
                "insider": a.key("images-view", role_id=insiders),
                "blind": a.key("images-sources-view", "images-manage"),
                "other": created["api_key"]["secret"],
            }
        finally:
            a.close()
        yield World(
            server=server,
            host=server.url.removeprefix("http://"),
            hub_id=server.hub_id,
            hub_identifier=hub["identifier"],
            app=app,
            dock=served_dock,
            multi=served_multi,
            guarded=served_guarded,
            secret=served_secret,
            other_hub_id=created["hub"]["id"],
            keys=keys,
            work=work,
        )


@pytest.fixture
def podman_storage() -> Iterator[Path]:
    """podman's storage: a short private directory (podman refuses a run root longer than 50 characters)."""
    directory = Path(tempfile.mkdtemp(prefix="pod-", dir="/tmp"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def podman_argv(storage: Path) -> list[str]:
    """``podman`` with its own vfs storage under ``storage`` (from :func:`podman_storage`)."""
    return ["podman", *storage_args(storage)]


@pytest.fixture(scope="session")
def containerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningContainerd]:
    """A containerd of its own (``ctr`` pulls into it)."""
    with start_containerd(tmp_path_factory.mktemp("containerd")) as running:
        yield running


@pytest.fixture
def v2(world: World) -> Iterator[httpx.Client]:
    """A plain HTTP client of the served imgsrc (no credentials: each test sends its own)."""
    with httpx.Client(base_url=world.url, timeout=30) as client:
        yield client
