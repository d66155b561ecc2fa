"""What the factory does better than its peers, pinned against real registries behind a fault-injecting proxy:
re-checks that cost one HEAD, blobs fetched once however many imports want them, resumed transfers, rate limits
honoured, lying registries caught with nothing stored, deletions that stop imports, and garbage collection that
never takes a blob in use."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest

from imgsrc.images.models import ImageBlobRow
from tests.factory.conftest import Factory, FactoryMaker, origin_via, registry_origin
from tests.support.faults import FaultProxy
from tests.support.images import make_layer, push_image
from tests.support.registry import RunningRegistry

pytestmark = pytest.mark.registry
BLOB_GET = r"/v2/.+/blobs/sha256:[0-9a-f]{64}"
MANIFEST = r"/v2/.+/manifests/.+"


def blob_path(digest: str) -> str:
    """The pattern of any repository's request for this blob."""
    return r"/v2/.+/blobs/" + re.escape(digest)


def manifest_path(repository: str) -> str:
    """The pattern of any manifest request (tag or digest) of this repository."""
    return re.escape(f"/v2/{repository}/manifests/") + ".+"


def test_reimport_of_an_unchanged_tag_costs_one_head_and_no_blob(
    factory: Factory, registry: RunningRegistry, proxy: FaultProxy, tmp_path: Path
) -> None:
    push_image(registry, tmp_path, "res/same", "1", layer_sizes=(50_000, 60_000))
    first, job = factory.import_image(origin_via(proxy, "res/same:1"))
    assert job["state"]["current"] == "completed", job
    mark = proxy.mark()
    second, job = factory.import_image(origin_via(proxy, "res/same:1"))
    assert job["state"]["current"] == "completed", job
    assert second["backend"]["file_id"] == first["backend"]["file_id"]
    assert proxy.count("GET", BLOB_GET, since=mark) == 0
    assert proxy.count("GET", MANIFEST, since=mark) == 0
    assert proxy.count("HEAD", MANIFEST, since=mark) == 1
    assert "nothing to download" in factory.log(second["id"])


def test_shared_layers_are_downloaded_once_across_images(
    factory: Factory, registry: RunningRegistry, proxy: FaultProxy, tmp_path: Path
) -> None:
    shared = make_layer(tmp_path / "layers", 80_000)
    a = push_image(registry, tmp_path, "res/a", layers=[shared, make_layer(tmp_path / "layers", 1000)])
    b = push_image(registry, tmp_path, "res/b", layers=[shared, make_layer(tmp_path / "layers", 2000)])
    for pushed, name in ((a, "res/a"), (b, "res/b")):
        image, job = factory.import_image(origin_via(proxy, f"{name}:latest"))
        assert job["state"]["current"] == "completed", job
        assert image["backend"]["file_id"] == pushed.manifest_digest
    assert proxy.count("GET", blob_path(shared.digest)) == 1
    assert "already stored" in factory.log(image["id"])


def test_concurrent_imports_of_one_blob_fetch_it_once(
    make_factory: FactoryMaker, registry: RunningRegistry, proxy: FaultProxy, tmp_path: Path
) -> None:
    big = make_layer(tmp_path / "layers", 3_000_000)
    push_image(registry, tmp_path, "res/c1", layers=[big])
    push_image(registry, tmp_path, "res/c2", layers=[big, make_layer(tmp_path / "layers", 10)])
    with make_factory(workers=4) as f:
        images = [f.image(f.source(origin_via(proxy, f"res/c{n}:latest"))["id"]) for n in (1, 2, 1, 2)]
        jobs = [f.start_import(image["id"]) for image in images]
        for job_id in jobs:
            assert f.wait(job_id)["state"]["current"] == "completed"
    assert proxy.count("GET", blob_path(big.digest)) == 1


def test_a_dropped_connection_is_resumed_with_range(
    factory: Factory, registry: RunningRegistry, proxy: FaultProxy, tmp_path: Path
) -> None:
    layer = make_layer(tmp_path / "layers", 2_000_000)
    pushed = push_image(registry, tmp_path, "res/drop", layers=[layer])
    proxy.drop_after(blob_path(layer.digest), 700_000, times=2)
    image, job = factory.import_image(origin_via(proxy, "res/drop:latest"))
    assert job["state"]["current"] == "completed", job
    assert image["backend"]["file_id"] == pushed.manifest_digest
    ranged = [r for r in proxy.requests if r.path.endswith(layer.digest) and r.range]
    assert ranged, "the transfer restarted from zero instead of resuming"
    assert proxy.bytes_sent(blob_path(layer.digest)) < 1.5 * layer.size
    assert factory.store_has(layer.digest)


def test_429_with_retry_after_is_honoured(
    factory: Factory, registry: RunningRegistry, proxy: FaultProxy, tmp_path: Path
) -> None:
    pushed = push_image(registry, tmp_path, "res/limited")
    proxy.rate_limit(blob_path(pushed.layer_digests[0]), retry_after="1", times=2)
    started = time.monotonic()
    _image, job = factory.import_image(origin_via(proxy, "res/limited:latest"))
    assert job["state"]["current"] == "completed", job
    assert time.monotonic() - started >= 2.0  # two waits of the one second the registry asked for
    assert proxy.count("GET", blob_path(pushed.layer_digests[0])) == 3


@pytest.mark.parametrize("fault", ["corrupt", "truncate", "length", "huge-manifest", "schema1", "unknown-type"])
def test_a_lying_registry_fails_the_import_and_stores_nothing(
    factory: Factory, registry: RunningRegistry, proxy: FaultProxy, tmp_path: Path, fault: str
) -> None:
    repository = f"res/liar-{fault}"
    pushed = push_image(registry, tmp_path, repository, layer_sizes=(300_000, 5000))
    bad = blob_path(pushed.layer_digests[0])
    if fault == "corrupt":
        proxy.corrupt(bad)
    elif fault == "truncate":
        proxy.truncate(bad, 1000)
    elif fault == "length":
        proxy.wrong_content_length(bad, 10)
    elif fault == "huge-manifest":
        proxy.huge_manifest(manifest_path(repository))
    elif fault == "schema1":
        proxy.schema1_manifest(manifest_path(repository))
    else:
        proxy.unknown_media_type(manifest_path(repository))
    image, job = factory.import_image(origin_via(proxy, f"{repository}:latest"))
    assert job["state"]["current"] == "error", job
    message = job["state"]["error"]["message"]
    assert image["state"]["current"] == "new"
    assert image["state"]["error"]["message"] == message
    assert image["backend"]["file_id"] == ""
    for digest in [pushed.manifest_digest, pushed.config_digest, *pushed.layer_digests]:
        assert not factory.store_has(digest), f"{digest} was stored by a failed import ({message})"
    assert not any((factory.data_dir / "store" / "tmp").glob(f"{image['id']}-*")), "temporary files were left"
    with factory.client.app.state.runtime.db.session() as session:  # type: ignore[attr-defined]
        assert session.query(ImageBlobRow).filter_by(image_id=image["id"]).count() == 0
    # a clean retry of the same image then works
    proxy.clear_rules()
    job = factory.wait(factory.start_import(image["id"]))
    assert job["state"]["current"] == "completed", job


def test_deleting_an_image_cancels_its_import_promptly(
    factory: Factory, registry: RunningRegistry, proxy: FaultProxy, tmp_path: Path
) -> None:
    pushed = push_image(registry, tmp_path, "res/slow")
    proxy.rate_limit(blob_path(pushed.layer_digests[0]), retry_after="60", times=None)
    source = factory.source(origin_via(proxy, "res/slow:latest"))
    image = factory.image(source["id"])
    import_job = factory.start_import(image["id"])
    deadline = time.monotonic() + 20
    while factory.get(f"/v1/images/{image['id']}").json()["data"]["state"]["current"] != "downloading":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    started = time.monotonic()
    delete = factory.delete(f"/v1/images/{image['id']}")
    assert delete.status_code == 200
    assert factory.wait(delete.json()["data"]["job"]["id"])["state"]["current"] == "completed"
    assert time.monotonic() - started < 10, "the import kept the deletion waiting"
    stopped = factory.wait(import_job)
    assert stopped["state"]["current"] == "error"
    assert "cancelled" in stopped["state"]["error"]["message"]
    assert factory.get(f"/v1/images/{image['id']}").json()["data"]["state"]["current"] == "deleted"


def test_deleting_a_source_deletes_its_images(factory: Factory, registry: RunningRegistry, tmp_path: Path) -> None:
    push_image(registry, tmp_path, "res/gone")
    source = factory.source(registry_origin(registry, "res/gone:latest"))
    image = factory.image(source["id"])
    assert factory.wait(factory.start_import(image["id"]))["state"]["current"] == "completed"
    job = factory.wait(factory.delete(f"/v1/images/sources/{source['id']}").json()["data"]["job"]["id"])
    assert job["state"]["current"] == "completed", job
    assert job["tasks"][0]["output"]["images_deleted"] == "1"
    assert factory.get(f"/v1/images/{image['id']}").json()["data"]["state"]["current"] == "deleted"


def test_garbage_collection_keeps_blobs_in_use_and_frees_the_rest(
    make_factory: FactoryMaker, registry: RunningRegistry, tmp_path: Path
) -> None:
    shared = make_layer(tmp_path / "layers", 5000)
    own = make_layer(tmp_path / "layers", 6000)
    push_image(registry, tmp_path, "res/keep", layers=[shared])
    push_image(registry, tmp_path, "res/drop-me", layers=[shared, own])
    with make_factory(gc_grace_seconds=0) as f:
        keep, _ = f.import_image(registry_origin(registry, "res/keep:latest"))
        drop, _ = f.import_image(registry_origin(registry, "res/drop-me:latest"))
        assert (
            f.wait(f.delete(f"/v1/images/{drop['id']}").json()["data"]["job"]["id"])["state"]["current"] == "completed"
        )
        f.client.app.state.workers.collect_garbage()  # type: ignore[attr-defined]
        assert f.store_has(shared.digest), "a blob a live image needs was collected"
        assert f.store_has(keep["backend"]["file_id"])
        assert not f.store_has(own.digest)
        assert not f.store_has(drop["backend"]["file_id"])


def test_garbage_collection_spares_blobs_an_import_has_claimed(
    make_factory: FactoryMaker, registry: RunningRegistry, proxy: FaultProxy, tmp_path: Path
) -> None:
    first = make_layer(tmp_path / "layers", 4000)
    held = make_layer(tmp_path / "layers", 4000)
    pushed = push_image(registry, tmp_path, "res/claimed", layers=[first, held])
    proxy.rate_limit(blob_path(held.digest), retry_after="2", times=1)
    with make_factory(gc_grace_seconds=0) as f:
        image = f.image(f.source(origin_via(proxy, "res/claimed:latest"))["id"])
        job_id = f.start_import(image["id"])
        deadline = time.monotonic() + 20
        while not f.store_has(first.digest):  # the import is half-way: one layer stored, the other waiting
            assert time.monotonic() < deadline
            time.sleep(0.02)
        f.client.app.state.workers.collect_garbage()  # type: ignore[attr-defined]
        assert f.store_has(first.digest), "garbage collection took a blob an unfinished import claimed"
        assert f.wait(job_id)["state"]["current"] == "completed"
        assert f.get(f"/v1/images/{image['id']}").json()["data"]["backend"]["file_id"] == pushed.manifest_digest


def test_prune_keeps_the_newest_live_image(factory: Factory, registry: RunningRegistry, tmp_path: Path) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from imgsrc.images.models import ImageRow
    from imgsrc.wire import utcnow

    push_image(registry, tmp_path, "res/prune")
    source = factory.source(registry_origin(registry, "res/prune:latest"))
    ids = []
    for _ in range(3):
        image = factory.image(source["id"])
        assert factory.wait(factory.start_import(image["id"]))["state"]["current"] == "completed"
        ids.append(image["id"])
    fresh = factory.image(source["id"])  # new and recent: kept
    db = factory.client.app.state.runtime.db  # type: ignore[attr-defined]
    with db.session() as session:
        for age, image_id in enumerate(ids):
            session.execute(
                update(ImageRow).where(ImageRow.id == image_id).values(created_at=utcnow() - timedelta(hours=3 - age))
            )
    response = factory.post("/v1/images/tasks", json={"action": "prune", "contents": {"source_ids": [source["id"]]}})
    assert response.status_code == 202, response.text
    job = factory.wait(response.json()["data"]["job"]["id"])
    assert job["state"]["current"] == "completed", job
    states = {i: factory.get(f"/v1/images/{i}").json()["data"]["state"]["current"] for i in [*ids, fresh["id"]]}
    assert states == {ids[0]: "deleted", ids[1]: "deleted", ids[2]: "live", fresh["id"]: "new"}


def test_two_imports_of_one_image_are_refused(
    factory: Factory, registry: RunningRegistry, proxy: FaultProxy, tmp_path: Path
) -> None:
    pushed = push_image(registry, tmp_path, "res/twice")
    proxy.rate_limit(blob_path(pushed.layer_digests[0]), retry_after="1", times=1)
    image = factory.image(factory.source(origin_via(proxy, "res/twice:latest"))["id"])
    job = factory.start_import(image["id"])
    again = factory.post(f"/v1/images/{image['id']}/tasks", json={"action": "import"})
    assert again.status_code == 403
    assert again.json()["error"]["code"] == "403.invalid-state"
    assert factory.wait(job)["state"]["current"] == "completed"
    live_again = factory.post(f"/v1/images/{image['id']}/tasks", json={"action": "import"})
    assert live_again.status_code == 403


def test_progress_is_visible_while_downloading(
    factory: Factory, registry: RunningRegistry, proxy: FaultProxy, tmp_path: Path
) -> None:
    layer = make_layer(tmp_path / "layers", 1_000_000)
    waiting = make_layer(tmp_path / "layers", 1000)
    pushed = push_image(registry, tmp_path, "res/progress", layers=[layer, waiting])
    proxy.rate_limit(blob_path(waiting.digest), retry_after="3", times=1)
    image = factory.image(factory.source(origin_via(proxy, "res/progress:latest"))["id"])
    job_id = factory.start_import(image["id"])
    seen: list[dict[str, int]] = []
    stop = threading.Event()
    deadline = time.monotonic() + 30
    while not stop.is_set() and time.monotonic() < deadline:
        job = factory.get(f"/v1/jobs/{job_id}").json()["data"]
        if job.get("progress"):
            seen.append(job["progress"])
        if job["state"]["current"] in ("completed", "error"):
            break
        time.sleep(0.1)
    partial = [p for p in seen if 0 < p["bytes_done"] < p["bytes_total"]]
    assert partial, f"no partial progress seen: {json.dumps(seen[-3:])}"
    assert partial[0]["bytes_total"] == pushed.config_size + layer.size + waiting.size
    assert partial[0]["layers_total"] == 2
