"""``IMGSRC_IMPORT_ALL_PLATFORMS``: an import keeps a multi-arch index whole (every platform, attestations too),
against a real registry behind the fault proxy. Re-checks still cost one HEAD; an image that kept only one
platform is never taken for the whole index; garbage collection frees every platform with the image."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from imgsrc.images.models import ImageBlobRow
from tests.factory.conftest import Factory, FactoryMaker, origin_via, running_factory
from tests.support.faults import FaultProxy
from tests.support.images import push_index
from tests.support.registry import RunningRegistry

pytestmark = pytest.mark.registry
BLOB_GET = r"/v2/.+/blobs/sha256:[0-9a-f]{64}"
MANIFEST = r"/v2/.+/manifests/.+"


def claims(factory: Factory, image_id: str) -> dict[str, str]:
    with factory.client.app.state.runtime.db.session() as session:  # type: ignore[attr-defined]
        rows = session.scalars(select(ImageBlobRow).where(ImageBlobRow.image_id == image_id))
        return {row.digest: row.kind for row in rows}


@pytest.mark.parametrize("flavour", ["oci", "docker"])
def test_every_platform_and_the_index_are_stored_and_claimed(
    make_factory: FactoryMaker, registry: RunningRegistry, proxy: FaultProxy, tmp_path: Path, flavour: str
) -> None:
    pushed = push_index(
        registry,
        tmp_path,
        f"whole/{flavour}",
        flavour=flavour,  # type: ignore[arg-type]
        attestation=flavour == "oci",
    )
    with make_factory(import_all_platforms=True) as f:
        image, job = f.import_image(origin_via(proxy, f"whole/{flavour}:latest"))
        assert job["state"]["current"] == "completed", job
        amd64 = pushed.children["linux/amd64"]
        assert image["backend"]["file_id"] == amd64.manifest_digest  # what the platform deploys stays amd64
        assert image["size"] == amd64.config_size + sum(amd64.layer_sizes)
        for digest in pushed.every_digest:
            assert f.store_has(digest), digest
        kinds = claims(f, image["id"])
        assert set(kinds) == pushed.every_digest
        assert kinds[pushed.index_digest or ""] == "index"
        log = f.log(image["id"])
        assert "keeping the index whole" in log
        assert "platforms: linux/arm64, linux/arm/v7" in log
        for child in pushed.children.values():  # each blob fetched once, however many platforms share it
            for digest in child.layer_digests:
                assert proxy.count("GET", r"/v2/.+/blobs/" + digest) == 1


def test_reimport_of_an_unchanged_index_costs_one_head(
    make_factory: FactoryMaker, registry: RunningRegistry, proxy: FaultProxy, tmp_path: Path
) -> None:
    pushed = push_index(registry, tmp_path, "whole/again", attestation=True)
    with make_factory(import_all_platforms=True) as f:
        first, job = f.import_image(origin_via(proxy, "whole/again:latest"))
        assert job["state"]["current"] == "completed", job
        mark = proxy.mark()
        second, job = f.import_image(origin_via(proxy, "whole/again:latest"))
        assert job["state"]["current"] == "completed", job
        assert proxy.count("GET", BLOB_GET, since=mark) == 0
        assert proxy.count("GET", MANIFEST, since=mark) == 0
        assert proxy.count("HEAD", MANIFEST, since=mark) == 1
        assert "nothing to download" in f.log(second["id"])
        assert claims(f, second["id"]) == claims(f, first["id"])
        assert set(claims(f, second["id"])) == pushed.every_digest


def test_an_image_that_kept_one_platform_is_not_taken_for_the_whole_index(
    registry: RunningRegistry, proxy: FaultProxy, tmp_path: Path
) -> None:
    """Imported first with the default (one platform), then with every platform kept: the second import
    downloads the other platforms (the chosen one's layers are already stored) and keeps the index."""
    pushed = push_index(registry, tmp_path, "whole/upgrade")
    data = tmp_path / "data"
    amd64 = pushed.children["linux/amd64"]
    arm64 = pushed.children["linux/arm64"]
    with running_factory(data) as f:
        one, job = f.import_image(origin_via(proxy, "whole/upgrade:latest"))
        assert job["state"]["current"] == "completed", job
        assert "index" not in claims(f, one["id"]).values()
        assert not f.store_has(arm64.layer_digests[0])
    mark = proxy.mark()
    with running_factory(data, import_all_platforms=True) as f:
        whole, job = f.import_image(origin_via(proxy, "whole/upgrade:latest"))
        assert job["state"]["current"] == "completed", job
        assert claims(f, whole["id"])[pushed.index_digest or ""] == "index"
        assert f.store_has(arm64.layer_digests[0])
        assert proxy.count("GET", r"/v2/.+/blobs/" + arm64.layer_digests[0], since=mark) == 1
        assert proxy.count("GET", r"/v2/.+/blobs/" + amd64.layer_digests[0], since=mark) == 0


def test_garbage_collection_frees_every_platform_of_a_deleted_image(
    make_factory: FactoryMaker, registry: RunningRegistry, tmp_path: Path
) -> None:
    pushed = push_index(registry, tmp_path, "whole/gone", attestation=True)
    origin = {"type": "docker-registry", "details": {"target": "whole/gone:latest", "url": registry.url}}
    with make_factory(import_all_platforms=True, gc_grace_seconds=0) as f:
        image, job = f.import_image(origin)
        assert job["state"]["current"] == "completed", job
        deletion = f.delete(f"/v1/images/{image['id']}").json()["data"]["job"]["id"]
        assert f.wait(deletion)["state"]["current"] == "completed"
        f.client.app.state.workers.collect_garbage()  # type: ignore[attr-defined]
        assert [d for d in pushed.every_digest if f.store_has(d)] == []


def test_an_index_that_cannot_be_kept_whole_still_imports_its_platform(
    make_factory: FactoryMaker, registry: RunningRegistry, proxy: FaultProxy, tmp_path: Path
) -> None:
    """The registry lacks one platform's manifest (a partial mirror): the default platform is imported, the
    build log says why the index was not kept, and nothing of the index is claimed."""
    pushed = push_index(registry, tmp_path, "whole/partial")
    arm64 = pushed.children["linux/arm64"].manifest_digest
    proxy.status(r"/v2/whole/partial/manifests/" + arm64, 404, times=None)
    with make_factory(import_all_platforms=True) as f:
        image, job = f.import_image(origin_via(proxy, "whole/partial:latest"))
        assert job["state"]["current"] == "completed", job
        amd64 = pushed.children["linux/amd64"]
        assert image["backend"]["file_id"] == amd64.manifest_digest
        assert set(claims(f, image["id"])) == {amd64.manifest_digest, amd64.config_digest, *amd64.layer_digests}
        log = f.log(image["id"])
        assert "only platform linux/amd64 kept" in log
        assert arm64 in log
