"""An external registry as the store: saving pushes the image there (existence checks, cross-repository mounts,
then the manifest), `backend` says so, and local copies of its layers become garbage."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from imgsrc.db import Database
from imgsrc.images.records import referenced_digests
from imgsrc.settings import Settings
from imgsrc.store import FilesystemBlobStore
from tests.conftest import make_settings
from tests.factory.conftest import FactoryMaker, registry_origin
from tests.support.images import make_layer, push_image, push_index
from tests.support.registry import RunningRegistry, start_registry, write_authfile
from tests.support.server import LiveServer, live_server
from tests.v2.conftest import Imgsrc

pytestmark = pytest.mark.registry


@pytest.fixture(scope="module")
def storage_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    with start_registry(tmp_path_factory.mktemp("storage"), auth="basic", username="store") as running:
        yield running


def storage_settings(storage: RunningRegistry) -> dict[str, object]:
    return {
        "storage": "registry",
        "storage_registry_url": storage.url,
        "storage_registry_username": storage.username,
        "storage_registry_password": storage.password,
        "storage_registry_prefix": "images",
        "gc_grace_seconds": 0,
    }


def inspect(storage: RunningRegistry, reference: str, tmp_path: Path) -> dict[str, object]:
    assert storage.credentials is not None
    authfile = write_authfile(tmp_path / "storage-auth.json", storage.host, *storage.credentials)
    done = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", "--authfile", str(authfile), f"docker://{reference}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def import_via_api(server: LiveServer, registry: RunningRegistry, target: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Create a source for ``target`` and import an image from it through the running server's API: (the
    source, the live image)."""
    api = Imgsrc(server.url, server.hub_id, server.api_key)
    try:
        source = api.source(registry, target)
        image_id = api.import_image(source["id"])
        return source, api.http.get(f"/v1/images/{image_id}").json()["data"]
    finally:
        api.close()


def collect_local_copies(settings: Settings) -> None:
    """What garbage collection does between two lives of the server: drop the local copies of layers kept in
    the external registry."""
    db = Database(settings.resolved_database_url)
    try:
        FilesystemBlobStore(settings.data_dir / "store").gc(
            lambda digests: referenced_digests(db, digests), grace_seconds=0
        )
    finally:
        db.dispose()


def test_saving_pushes_to_the_external_registry(
    make_factory: FactoryMaker, registry: RunningRegistry, storage_registry: RunningRegistry, tmp_path: Path
) -> None:
    shared = make_layer(tmp_path / "layers", 40_000)
    first = push_image(registry, tmp_path, "ext/one", layers=[shared, make_layer(tmp_path / "layers", 1000)])
    second = push_image(registry, tmp_path, "ext/two", layers=[shared, make_layer(tmp_path / "layers", 2000)])
    with make_factory(**storage_settings(storage_registry)) as f:
        image, job = f.import_image(registry_origin(registry, "ext/one:latest"))
        assert job["state"]["current"] == "completed", job
        assert image["backend"]["provider"] == "registry"
        assert image["backend"]["file_id"] == first.manifest_digest
        location = image["backend"]["file_name"]
        assert location.startswith(f"{storage_registry.host}/images/{f.hub_id}/")
        assert location.endswith("@" + first.manifest_digest)
        manifest = inspect(storage_registry, f"{location.split('@')[0]}:{image['id']}", tmp_path)
        assert [layer["digest"] for layer in manifest["layers"]] == first.layer_digests  # type: ignore[index]
        # a second source's image shares a layer: mounted across repositories, not uploaded again
        other, job = f.import_image(registry_origin(registry, "ext/two:latest"))
        assert job["state"]["current"] == "completed", job
        log = f.log(other["id"])
        assert f"{shared.digest[:19]} mounted from" in log
        # layers now live in the external registry: the local copies are garbage, manifests and configs stay
        f.client.app.state.workers.collect_garbage()  # type: ignore[attr-defined]
        assert not f.store_has(shared.digest)
        assert f.store_has(first.manifest_digest)
        assert f.store_has(first.config_digest)
        # an unchanged re-import needs neither the upstream blobs nor local copies
        again, job = f.import_image(registry_origin(registry, "ext/one:latest"))
        assert job["state"]["current"] == "completed", job
        assert again["backend"]["provider"] == "registry"
        assert "nothing to download" in f.log(again["id"])
    _ = second


def test_images_kept_in_the_external_registry_are_pulled_through_v2_after_a_restart(
    registry: RunningRegistry, storage_registry: RunningRegistry, tmp_path: Path
) -> None:
    """Save to the external registry, drop the local layer copies, restart the server, then pull with skopeo:
    the layers stream through /v2 from the external registry, byte for byte (Range included)."""
    pushed = push_image(registry, tmp_path, "ext/pull", layer_sizes=(300_000, 7000))
    settings = make_settings(tmp_path / "data", **storage_settings(storage_registry))
    with live_server(settings) as server, httpx.Client(base_url=server.url, headers=server.headers) as api:
        source = api.post(
            "/v1/images/sources", json={"type": "direct", "origin": registry_origin(registry, "ext/pull:latest")}
        )
        image = api.post("/v1/images", json={"source_id": source.json()["data"]["id"]}).json()["data"]
        job = api.post(f"/v1/images/{image['id']}/tasks", json={"action": "import"}).json()["data"]["job"]["id"]
        for _ in range(600):
            state = api.get(f"/v1/jobs/{job}").json()["data"]["state"]["current"]
            if state in ("completed", "error"):
                break
            time.sleep(0.1)
        assert state == "completed"
    layer_file = settings.data_dir / "store" / "blobs" / "sha256" / pushed.layer_digests[0].split(":")[1]
    collect_local_copies(settings)
    assert not layer_file.exists(), "the layer should only be in the external registry now"
    with live_server(settings) as server:
        host = server.url.removeprefix("http://")
        authfile = write_authfile(tmp_path / "imgsrc-auth.json", host, "anyone", server.api_key)
        reference = f"docker://{host}/{server.hub_id}/{source.json()['data']['id']}:{image['id']}"
        done = subprocess.run(
            [
                "skopeo",
                "copy",
                "--src-tls-verify=false",
                "--src-authfile",
                str(authfile),
                reference,
                f"oci:{tmp_path / 'pulled'}:x",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        for digest in pushed.layer_digests:
            blob = tmp_path / "pulled" / "blobs" / "sha256" / digest.split(":")[1]
            assert "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest() == digest
        with httpx.Client(base_url=server.url, auth=("anyone", server.api_key)) as v2:
            path = f"/v2/{server.hub_id}/{source.json()['data']['id']}/blobs/{pushed.layer_digests[0]}"
            ranged = v2.get(path, headers={"Range": "bytes=100-199"})
            assert ranged.status_code == 206
            full = v2.get(path).content
            assert ranged.content == full[100:200]
            assert len(full) == pushed.layer_sizes[0]
            head = v2.head(path)
            assert head.headers["content-length"] == str(pushed.layer_sizes[0])


def test_a_whole_index_is_kept_in_the_external_registry_and_copied_with_all_platforms(
    registry: RunningRegistry, storage_registry: RunningRegistry, tmp_path: Path
) -> None:
    """``IMGSRC_IMPORT_ALL_PLATFORMS`` with external storage: every platform's manifest is pushed by digest and
    the index under the image's tag; after the local layer copies are collected, ``skopeo copy --all`` through
    /v2 still gets every blob of every platform."""
    pushed = push_index(registry, tmp_path, "ext/whole", attestation=True, layer_sizes=(20_000,))
    settings = make_settings(tmp_path / "data", import_all_platforms=True, **storage_settings(storage_registry))
    with live_server(settings) as server:
        source, image = import_via_api(server, registry, "ext/whole:latest")
    image_id = image["id"]
    repository = image["backend"]["file_name"].split("@")[0]
    stored_index = inspect(storage_registry, f"{repository}:{image_id}", tmp_path)
    assert json.dumps(stored_index, sort_keys=True) == json.dumps(json.loads(pushed.index_bytes or b""), sort_keys=True)
    for child in pushed.children.values():
        assert inspect(storage_registry, f"{repository}@{child.manifest_digest}", tmp_path)["layers"]
    collect_local_copies(settings)
    arm64 = pushed.children["linux/arm64"]
    assert not (settings.data_dir / "store" / "blobs" / "sha256" / arm64.layer_digests[0].split(":")[1]).exists()
    with live_server(settings) as server:
        host = server.url.removeprefix("http://")
        authfile = write_authfile(tmp_path / "imgsrc-auth.json", host, "anyone", server.api_key)
        reference = f"docker://{host}/{server.hub_id}/{source['id']}:latest"
        layout = tmp_path / "pulled"
        done = subprocess.run(
            ["skopeo", "copy", "--all", "--preserve-digests", "--src-tls-verify=false", "--src-authfile",
             str(authfile), reference, f"oci:{layout}"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert json.loads((layout / "index.json").read_text())["manifests"][0]["digest"] == pushed.index_digest
    for child in pushed.children.values():
        for digest in (child.manifest_digest, child.config_digest, *child.layer_digests):
            blob = layout / "blobs" / "sha256" / digest.split(":")[1]
            assert "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest() == digest


def test_a_layer_the_external_registry_lost_is_blob_unknown_not_a_broken_transfer(
    registry: RunningRegistry, storage_registry: RunningRegistry, tmp_path: Path
) -> None:
    pushed = push_image(registry, tmp_path, "ext/lost", layer_sizes=(9000, 8000))
    settings = make_settings(tmp_path / "data", **storage_settings(storage_registry))
    with live_server(settings) as server:
        source, image = import_via_api(server, registry, "ext/lost:latest")
        collect_local_copies(settings)
        lost, kept = pushed.layer_digests
        repository = image["backend"]["file_name"].split("@")[0].split("/", 1)[1]
        assert storage_registry.credentials is not None
        removed = httpx.delete(
            f"{storage_registry.url}/v2/{repository}/blobs/{lost}", auth=storage_registry.credentials, timeout=30
        )
        assert removed.status_code == 202, removed.text
        with httpx.Client(base_url=server.url, auth=("anyone", server.api_key), timeout=30) as v2:
            base = f"/v2/{server.hub_id}/{source['id']}/blobs"
            for method in ("GET", "HEAD"):
                answer = v2.request(method, f"{base}/{lost}")
                assert answer.status_code == 404
            assert v2.get(f"{base}/{lost}").json()["errors"][0]["code"] == "BLOB_UNKNOWN"
            still = v2.get(f"{base}/{kept}")
            assert still.status_code == 200
            assert "sha256:" + hashlib.sha256(still.content).hexdigest() == kept
