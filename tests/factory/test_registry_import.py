"""Imports from real registries through the API: every origin and auth kind, platforms, media types, and the
published schemas of every answer on the way."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from imgsrc.images.models import ImageBlobRow, ImageRow
from tests.api.helpers import assert_cycle_response, assert_cycle_schema
from tests.factory.conftest import Factory, FactoryMaker, registry_origin
from tests.support.httpd import serve_in_thread
from tests.support.images import push_image, push_index
from tests.support.registry import RunningRegistry

pytestmark = pytest.mark.registry


def test_import_from_an_anonymous_registry_end_to_end(
    factory: Factory, registry: RunningRegistry, tmp_path: Path
) -> None:
    pushed = push_image(registry, tmp_path, "e2e/plain", "v1", layer_sizes=(4096, 8192, 1024))
    source = factory.source(registry_origin(registry, "e2e/plain:v1"))
    created = factory.post("/v1/images", json={"source_id": source["id"], "name": "plain v1"})
    image = assert_cycle_response("createImage", created)["data"]
    assert image["state"]["current"] == "new"
    assert factory.get(f"/v1/images/{image['id']}/build-log").status_code == 404

    started = factory.post(f"/v1/images/{image['id']}/tasks", json={"action": "import"})
    descriptor = assert_cycle_response("createImageJob", started)["data"]
    job = factory.wait(descriptor["job"]["id"])
    assert job["state"]["current"] == "completed", job
    assert_cycle_schema("Job", job)
    assert [s["caption"] for s in job["tasks"][0]["steps"]] == ["Resolve", "Download", "Verify", "Save"]
    assert job["progress"]["bytes_done"] == job["progress"]["bytes_total"] > 0

    live = assert_cycle_response("getImage", factory.get(f"/v1/images/{image['id']}"))["data"]
    assert live["state"]["current"] == "live"
    assert live["backend"]["file_id"] == pushed.manifest_digest
    assert live["backend"]["provider"] == "local"
    assert live["size"] == pushed.config_size + sum(pushed.layer_sizes)
    assert live["source"]["details"]["id"] == source["id"]
    assert live["factory"]["node_id"]
    for digest in [pushed.manifest_digest, pushed.config_digest, *pushed.layer_digests]:
        assert factory.store_has(digest), digest
    log = assert_cycle_response("getImageBuildLog", factory.get(f"/v1/images/{image['id']}/build-log"))["data"]["log"]
    assert pushed.manifest_digest in log
    assert "fetched" in log
    counts = factory.get(f"/v1/images/sources/{source['id']}?meta=images_count").json()["data"]["meta"]
    assert counts["images_count"]["state"]["live"] == 1
    assert counts["images_count"]["total"] == 1


def test_image_config_fields_come_from_the_oci_config(
    factory: Factory, registry: RunningRegistry, tmp_path: Path
) -> None:
    pushed = push_image(registry, tmp_path, "e2e/config")
    config = json.loads(pushed.config_bytes)
    image, job = factory.import_image(registry_origin(registry, "e2e/config:latest"))
    assert job["state"]["current"] == "completed", job
    wire = image["config"]
    inner = config.get("config", {})
    assert wire["env"] == dict(item.split("=", 1) for item in inner.get("Env", []))
    assert wire["command"] == inner.get("Cmd", [])
    assert image["requires"]["nvidia_gpu"] == any(k in wire["env"] for k in ("NVIDIA_GPU", "CUDA_VERSION"))


@pytest.mark.parametrize("flavour", ["oci", "docker"])
def test_basic_auth_registry_with_both_media_flavours(
    factory: Factory, basic_registry: RunningRegistry, tmp_path: Path, flavour: str
) -> None:
    pushed = push_image(basic_registry, tmp_path, f"e2e/basic-{flavour}", flavour=flavour)  # type: ignore[arg-type]
    for kind in ("docker-registry", "oci-registry"):
        image, job = factory.import_image(registry_origin(basic_registry, f"e2e/basic-{flavour}:latest", kind=kind))
        assert job["state"]["current"] == "completed", job
        assert image["backend"]["file_id"] == pushed.manifest_digest


def test_wrong_password_fails_clearly_without_leaking_it(
    factory: Factory, basic_registry: RunningRegistry, tmp_path: Path
) -> None:
    push_image(basic_registry, tmp_path, "e2e/secret")
    origin = {
        "type": "docker-registry",
        "details": {
            "target": "e2e/secret:latest",
            "url": basic_registry.url,
            "username": "alice",
            "password": "not-the-password-123",
        },
    }
    image, job = factory.import_image(origin)
    assert job["state"]["current"] == "error"
    assert image["state"]["current"] == "new"
    message = image["state"]["error"]["message"]
    assert "authentication" in message.lower() or "401" in message or "denied" in message.lower()
    everything = json.dumps([image, job, factory.log(image["id"])])
    assert "not-the-password-123" not in everything


def test_docker_hub_origin_goes_through_the_hub_token_flow(
    factory: Factory, token_registry: RunningRegistry, tmp_path: Path
) -> None:
    pushed = push_image(token_registry, tmp_path, "library/hubby", "7")
    mark = token_registry.token_server.mark()  # type: ignore[union-attr]
    image, job = factory.import_image({"type": "docker-hub", "details": {"target": "hubby:7"}})
    assert job["state"]["current"] == "completed", job
    assert image["backend"]["file_id"] == pushed.manifest_digest
    requests = token_registry.token_server.requests_since(mark)  # type: ignore[union-attr]
    assert requests, "the token service was not asked"
    assert "docker.io/library/hubby:7" in factory.log(image["id"])


def test_docker_hub_credentials_are_used_for_private_repositories(make_factory: FactoryMaker, tmp_path: Path) -> None:
    from tests.support.registry import start_registry

    with start_registry(tmp_path / "private-hub", auth="token", token_anonymous_pull=False) as hub:
        push_image(hub, tmp_path, "acme/private", "1")
        with make_factory(dockerhub_registry_url=hub.url, dockerhub_auth_url=hub.token_realm) as f:
            _anonymous, job = f.import_image({"type": "docker-hub", "details": {"target": "acme/private:1"}})
            assert job["state"]["current"] == "error"
            _with_creds, job = f.import_image(
                {
                    "type": "docker-hub",
                    "details": {"target": "acme/private:1", "username": hub.username, "token": hub.password},
                }
            )
            assert job["state"]["current"] == "completed", job


def test_multi_arch_index_selects_the_platform_and_records_the_index(
    make_factory: FactoryMaker, registry: RunningRegistry, tmp_path: Path
) -> None:
    pushed = push_index(registry, tmp_path, "e2e/multi", "1")
    with make_factory() as f:
        image, job = f.import_image(registry_origin(registry, "e2e/multi:1"))
        assert job["state"]["current"] == "completed", job
        assert image["backend"]["file_id"] == pushed.children["linux/amd64"].manifest_digest
        log = f.log(image["id"])
        assert pushed.index_digest in log
        assert "linux/amd64" in log
        with f.client.app.state.runtime.db.session() as session:  # type: ignore[attr-defined]
            row = session.get(ImageRow, image["id"])
            assert row.index_digest == pushed.index_digest
    with make_factory(default_platform="linux/arm64") as f:
        image, job = f.import_image(registry_origin(registry, "e2e/multi:1"))
        assert image["backend"]["file_id"] == pushed.children["linux/arm64"].manifest_digest


def test_override_target_replaces_the_source_target_for_one_image(
    factory: Factory, registry: RunningRegistry, tmp_path: Path
) -> None:
    push_image(registry, tmp_path, "e2e/over", "a")
    b = push_image(registry, tmp_path, "e2e/over", "b")
    source = factory.source(registry_origin(registry, "e2e/over:a"))
    image = factory.image(source["id"], override={"target": "e2e/over:b"})
    job = factory.wait(factory.start_import(image["id"]))
    assert job["state"]["current"] == "completed", job
    live = factory.get(f"/v1/images/{image['id']}").json()["data"]
    assert live["backend"]["file_id"] == b.manifest_digest
    assert live["source"]["override"] == {"target": "e2e/over:b"}


def test_a_missing_tag_fails_with_a_useful_message(factory: Factory, registry: RunningRegistry) -> None:
    image, job = factory.import_image(registry_origin(registry, "e2e/nothing-here:1"))
    assert job["state"]["current"] == "error"
    assert "not found" in job["state"]["error"]["message"]
    assert image["state"]["current"] == "new"
    assert image["state"]["error"]["message"] == job["state"]["error"]["message"]


class _Webhook(BaseHTTPRequestHandler):
    answer = b""
    calls = 0

    def do_GET(self) -> None:
        type(self).calls += 1
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.answer)))
        self.end_headers()
        self.wfile.write(self.answer)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def webhook(basic_registry: RunningRegistry) -> Iterator[str]:
    _Webhook.answer = base64.b64encode(f"{basic_registry.username}:{basic_registry.password}".encode())
    _Webhook.calls = 0
    with serve_in_thread(_Webhook, "webhook") as url:
        yield f"{url}/creds?key=hook-secret-999"


def test_oci_registry_with_webhook_credentials(
    factory: Factory, basic_registry: RunningRegistry, tmp_path: Path, webhook: str
) -> None:
    pushed = push_image(basic_registry, tmp_path, "e2e/hook")
    origin = {
        "type": "oci-registry",
        "details": {
            "target": "e2e/hook:latest",
            "url": basic_registry.url,
            "auth": {"type": "webhook", "details": {"url": webhook}},
        },
    }
    image, job = factory.import_image(origin)
    assert job["state"]["current"] == "completed", job
    assert image["backend"]["file_id"] == pushed.manifest_digest
    assert _Webhook.calls >= 1
    assert "hook-secret-999" not in json.dumps([image, job, factory.log(image["id"])])


def test_existing_source_lends_credentials_to_an_import(
    factory: Factory, basic_registry: RunningRegistry, tmp_path: Path
) -> None:
    pushed = push_image(basic_registry, tmp_path, "e2e/existing")
    base = factory.source(registry_origin(basic_registry, "e2e/anything:latest"))
    image, job = factory.import_image(
        {
            "type": "docker-registry",
            "details": {
                "target": "e2e/existing:latest",
                "url": basic_registry.url,
                "existing": {"source_id": base["id"]},
            },
        }
    )
    assert job["state"]["current"] == "completed", job
    assert image["backend"]["file_id"] == pushed.manifest_digest


def test_import_runs_on_postgresql_too(
    make_factory: FactoryMaker, registry: RunningRegistry, tmp_path: Path, postgres_url: str
) -> None:
    pushed = push_image(registry, tmp_path, "e2e/pg")
    with make_factory(database_url=postgres_url) as f:
        image, job = f.import_image(registry_origin(registry, "e2e/pg:latest"))
        assert job["state"]["current"] == "completed", job
        assert image["backend"]["file_id"] == pushed.manifest_digest
        with f.client.app.state.runtime.db.session() as session:  # type: ignore[attr-defined]
            kinds = sorted(b.kind for b in session.query(ImageBlobRow).filter_by(image_id=image["id"]))
        assert kinds == ["config", "layer", "layer", "manifest"]
