"""An external registry as the store: saving pushes the image there (existence checks, cross-repository mounts,
then the manifest), `backend` says so, and local copies of its layers become garbage."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factory.conftest import FactoryMaker, registry_origin
from tests.support.images import make_layer, push_image
from tests.support.registry import RunningRegistry, start_registry, write_authfile

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
