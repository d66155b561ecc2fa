"""Uploads of image archives through the API: docker-save and OCI-layout tars (made by skopeo), plain and gzip;
the one-time token; limits; broken, lying and hostile archives; clients that go away; and deduplication with
registry imports. The upload body is parsed and read in one streaming pass (property tests below)."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from imgsrc.db import Database
from imgsrc.errors import ArchiveError, MaxExceededError
from imgsrc.images.models import ImageRow
from imgsrc.images.upload_body import _FormReader, _Pipe
from imgsrc.wire import utcnow
from tests.api.helpers import assert_cycle_schema, assert_error
from tests.conftest import make_settings
from tests.factory.conftest import Factory, FactoryMaker, registry_origin
from tests.factory.uploadkit import (
    Archives,
    archives,
    chunks,
    image_of,
    multipart,
    store_blobs,
    upload,
    uploadable,
    work_left,
)
from tests.support.archives import directory, docker_save_entries, file, make_image, oci_layout_entries, tar_bytes
from tests.support.images import push_image
from tests.support.registry import RunningRegistry
from tests.support.server import live_server

__all__ = ["archives"]


@pytest.fixture
def factory(make_factory: FactoryMaker) -> Iterator[Factory]:
    """A server of its own (no registries needed)."""
    with make_factory() as made:
        yield made


def assert_untouched(factory: Factory, image_id: str, blobs_before: set[str]) -> dict[str, Any]:
    """A failed or refused upload stored nothing and left no staging behind; returns the image."""
    assert store_blobs(factory) == blobs_before
    assert work_left(factory) == []
    return image_of(factory, image_id)


# --- success -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["docker", "docker.gz", "oci", "oci.gz"])
def test_upload_of_a_skopeo_archive_makes_the_image_live(factory: Factory, archives: Archives, kind: str) -> None:
    """docker-archive and OCI-layout tars, plain and gzip: 200 with the live image, every blob in the store,
    the staging removed, a build log saying what arrived; no API key needed, the token is the credential."""
    target = uploadable(factory)
    response = upload(factory, target, archives.get(kind))
    assert response.status_code == 200, response.text
    image = response.json()["data"]
    assert_cycle_schema("Image", image)
    assert image["id"] == target.id
    assert image["state"]["current"] == "live"
    assert image["backend"]["provider"] == "local"
    assert image["config"]["command"] == ["/bin/sh"]
    assert image["config"]["env"]["PATH"].startswith("/usr/sbin")
    assert image["source"]["details"]["origin"]["details"]["token"] in ("", "********")
    manifest_hex = image["backend"]["file_id"].split(":", 1)[1]
    blobs = factory.data_dir / "store" / "blobs" / "sha256"
    manifest = json.loads((blobs / manifest_hex).read_bytes())
    for blob in [manifest["config"], *manifest["layers"]]:
        assert factory.store_has(blob["digest"]), blob
    assert image["size"] == manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])
    if kind.startswith("oci"):
        assert image["backend"]["file_id"] == archives.base.manifest_digest, "the archive's manifest is kept as is"
    log = factory.log(target.id)
    expected_format = "docker-archive" if kind.startswith("docker") else "oci-layout"
    assert f"{expected_format}, 1 layer(s)" in log
    assert image["backend"]["file_id"] in log
    assert target.token not in log
    assert work_left(factory) == []


def test_a_layer_shared_with_a_registry_import_is_stored_once(
    make_factory: FactoryMaker, registry: RunningRegistry, tmp_path: Path
) -> None:
    """An image imported from a registry, then the same image uploaded as an OCI archive: the upload adopts the
    stored layers (same files, same inodes) instead of storing them again."""
    pushed = push_image(registry, tmp_path, "shared/app", "v1", layer_sizes=(64 * 1024, 4096))
    with make_factory() as factory:
        imported, job = factory.import_image(registry_origin(registry, "shared/app:v1"))
        assert imported["state"]["current"] == "live", job
        blobs = factory.data_dir / "store" / "blobs" / "sha256"
        inodes = {d: (blobs / d.split(":", 1)[1]).stat().st_ino for d in pushed.layer_digests}
        from tests.factory.uploadkit import skopeo_archive

        layout = next((tmp_path / "layouts").iterdir())
        data = skopeo_archive(layout, "v1", "oci-archive", tmp_path / "shared.tar", "v1")
        target = uploadable(factory)
        response = upload(factory, target, data)
        assert response.status_code == 200, response.text
        assert response.json()["data"]["backend"]["file_id"] == pushed.manifest_digest
        log = factory.log(target.id)
        assert log.count("already stored") == len(pushed.layer_digests)
        assert {d: (blobs / d.split(":", 1)[1]).stat().st_ino for d in pushed.layer_digests} == inodes


# --- the token -----------------------------------------------------------------------------------------------


def _expire(factory: Factory, image_id: str) -> None:
    db = Database(make_settings(factory.data_dir).resolved_database_url)
    try:
        with db.session() as session:
            session.execute(update(ImageRow).where(ImageRow.id == image_id).values(upload_expires=utcnow()))
    finally:
        db.dispose()


def test_refusals_store_nothing_and_keep_the_token(factory: Factory, archives: Archives) -> None:
    """Wrong token (401 auth-invalid), another hub's ID (404), no `file.tar` part (422), not multipart (415):
    each refused before the token is spent; the right token then still works. Once used, the token is refused
    (403 invalid-state), as is any other token for that image."""
    target = uploadable(factory)
    before = store_blobs(factory)
    data = archives.get("oci")
    assert_error(upload(factory, target, data, token="not-the-token"), 401, "401.auth-invalid")
    assert_error(upload(factory, target, data, hub_id="0" * 24), 404, "404.image")
    params = {"hub-id": factory.hub_id, "token": target.token}
    url = f"/v1/images/{target.id}/upload"
    raw = factory.client.post(url, params=params, content=data, headers={"Content-Type": "application/x-tar"})
    assert_error(raw, 415, "415.invalid-content-type")
    image = assert_untouched(factory, target.id, before)
    assert image["state"] == {"current": "new", "changed": image["state"]["changed"]}

    assert upload(factory, target, data).status_code == 200
    assert_error(upload(factory, target, data), 403, "403.invalid-state")
    assert_error(upload(factory, target, data, token="not-the-token"), 403, "403.invalid-state")


def test_a_missing_file_part_spends_the_token_and_says_so(factory: Factory) -> None:
    """A multipart body without `file.tar`: 422 missing-argument; the image is back to `new` with the error."""
    target = uploadable(factory)
    params = {"hub-id": factory.hub_id, "token": target.token}
    response = factory.client.post(
        f"/v1/images/{target.id}/upload", params=params, files={"other": ("x.txt", b"hello", "text/plain")}
    )
    assert_error(response, 422, "422.missing-argument", source="/file.tar")
    image = image_of(factory, target.id)
    assert image["state"]["current"] == "new"
    assert "file.tar" in image["state"]["error"]["message"]


def test_an_expired_token_is_refused(factory: Factory, archives: Archives) -> None:
    target = uploadable(factory)
    _expire(factory, target.id)
    assert_error(upload(factory, target, archives.get("oci")), 401, "401.auth-expired")
    assert image_of(factory, target.id)["state"]["current"] == "new"


def test_images_of_other_sources_and_deleted_images_take_no_upload(factory: Factory, archives: Archives) -> None:
    """Only cycle-upload images take uploads (422 otherwise); a deleted image refuses with 403 invalid-state."""
    source = factory.source({"type": "docker-hub", "details": {"target": "busybox"}})
    image = factory.image(source["id"])
    params = {"hub-id": factory.hub_id, "token": "anything"}
    files = {"file.tar": ("image.tar", archives.get("oci"), "application/x-tar")}
    response = factory.client.post(f"/v1/images/{image['id']}/upload", params=params, files=files)
    assert_error(response, 422, "422.invalid-argument")

    target = uploadable(factory)
    factory.wait(factory.delete(f"/v1/images/{target.id}").json()["data"]["job"]["id"])
    assert_error(upload(factory, target, archives.get("oci")), 403, "403.invalid-state")


def test_the_token_is_spent_while_the_first_upload_still_runs(tmp_path: Path, archives: Archives) -> None:
    """A second request with the token, sent while the first is still streaming its body, is refused (403);
    the first then completes."""
    settings_ = make_settings(tmp_path / "data")
    with live_server(settings_) as server:
        client = httpx.Client(base_url=server.url, headers=server.headers, timeout=30)
        source = client.post("/v1/images/sources", json={"type": "direct", "origin": {"type": "cycle-upload"}})
        image = client.post("/v1/images", json={"source_id": source.json()["data"]["id"]}).json()["data"]
        token = image["source"]["details"]["origin"]["details"]["token"]
        content_type, head, tail = multipart(archives.get("oci"))
        data = archives.get("oci")
        release = threading.Event()

        def body() -> Iterator[bytes]:
            yield head + data[:1000]
            release.wait(30)
            yield data[1000:] + tail

        outcome: list[httpx.Response] = []
        params = {"hub-id": server.hub_id, "token": token}
        first = threading.Thread(
            target=lambda: outcome.append(
                httpx.post(
                    f"{server.url}/v1/images/{image['id']}/upload",
                    params=params,
                    content=body(),
                    headers={"Content-Type": content_type},
                    timeout=30,
                )
            )
        )
        first.start()
        try:
            deadline = time.monotonic() + 30
            while client.get(f"/v1/images/{image['id']}").json()["data"]["state"]["current"] != "uploading":
                assert time.monotonic() < deadline
                time.sleep(0.02)
            second = httpx.post(
                f"{server.url}/v1/images/{image['id']}/upload",
                params=params,
                files={"file.tar": ("image.tar", data, "application/x-tar")},
                timeout=30,
            )
            assert_error(second, 403, "403.invalid-state")
        finally:
            release.set()
            first.join(30)
        assert outcome[0].status_code == 200, outcome[0].text
        client.close()


# --- limits and broken archives ------------------------------------------------------------------------------


def test_an_oversized_upload_is_refused(make_factory: FactoryMaker, archives: Archives) -> None:
    """With `upload_max_bytes` small: a declared Content-Length over it is refused before the token is spent;
    a streamed body (no Content-Length) over it fails with 422 max-exceeded, the image back to `new` with the
    error; a gzip archive that is small but unpacks beyond the limit fails the same way. Nothing is stored."""
    with make_factory(upload_max_bytes=64 * 1024) as factory:
        target = uploadable(factory)
        before = store_blobs(factory)
        assert_error(upload(factory, target, archives.get("docker")), 422, "422.max-exceeded")
        assert assert_untouched(factory, target.id, before)["state"].get("error") is None

        # Few data bytes but many headers: only the count of bytes received can stop this one.
        padded = tar_bytes([*(directory(f"d{i}") for i in range(300)), *docker_save_entries(make_image())])
        content_type, head, tail = multipart(padded)
        params = {"hub-id": factory.hub_id, "token": target.token}
        streamed = factory.client.post(
            f"/v1/images/{target.id}/upload",
            params=params,
            content=chunks(head + padded + tail),
            headers={"Content-Type": content_type},
        )
        error = assert_error(streamed, 422, "422.max-exceeded", source="/file.tar")
        assert error["detail"] == "the upload may be at most 65536 bytes"
        image = assert_untouched(factory, target.id, before)
        assert image["state"]["current"] == "new"
        assert image["state"]["error"]["message"] == error["detail"]

        bomb = gzip.compress(tar_bytes(docker_save_entries(make_image({"zeros": b"\0" * 512 * 1024}))))
        assert len(bomb) < 64 * 1024
        second = uploadable(factory)
        assert_error(upload(factory, second, bomb), 422, "422.max-exceeded")
        assert_untouched(factory, second.id, before)


def test_too_many_entries_is_max_exceeded(make_factory: FactoryMaker) -> None:
    with make_factory(upload_max_entries=5) as factory:
        target = uploadable(factory)
        data = tar_bytes([*docker_save_entries(make_image()), *(file(f"extra-{i}", b"x") for i in range(10))])
        assert_error(upload(factory, target, data), 422, "422.max-exceeded")


def _lying_oci_layout() -> bytes:
    """An OCI layout whose manifest declares a layer size the blob does not have."""
    image = make_image({"a.txt": b"hello"})
    entries = oci_layout_entries(image)
    manifest = json.loads(image.manifest)
    manifest["layers"][0]["size"] += 1
    lying = json.dumps(manifest).encode()
    from tests.support.archives import blob_entry, descriptor, index_doc

    kept = [e for e in entries if e.name not in ("index.json",) and not e.name.endswith(image.manifest_digest[7:])]
    index = file("index.json", index_doc([descriptor(lying, "application/vnd.oci.image.manifest.v1+json")]))
    return tar_bytes([*kept, blob_entry(lying), index])


BROKEN: dict[str, tuple[Callable[[Archives], bytes], str]] = {
    "truncated": (lambda a: a.get("docker")[: len(a.get("docker")) // 2], "truncated"),
    "truncated gzip": (lambda a: a.get("oci.gz")[: len(a.get("oci.gz")) // 2], "truncated"),
    "config lies about diff_ids": (
        lambda a: tar_bytes(docker_save_entries(make_image({"a": b"1"}, diff_ids=["sha256:" + "0" * 64]))),
        "diff",
    ),
    "manifest lies about a size": (lambda a: _lying_oci_layout(), "bytes"),
    "entry climbs out": (lambda a: tar_bytes([file("../../evil", b"x"), *docker_save_entries(make_image())]), "evil"),
    "not an image": (lambda a: tar_bytes([file("hello.txt", b"hi")]), "manifest.json"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_or_hostile_archive_stores_nothing(factory: Factory, archives: Archives, case: str) -> None:
    """Each is a 422 naming the problem; the image is back to `new` with the error; the build log says it too;
    no blob and no staging remain."""
    make, expected = BROKEN[case]
    target = uploadable(factory)
    before = store_blobs(factory)
    response = upload(factory, target, make(archives))
    assert response.status_code == 422, response.text
    assert_cycle_schema("ErrorEnvelope", response.json())
    error = response.json()["error"]
    assert error["code"] == "422.invalid-input"
    assert expected in error["detail"], error
    image = assert_untouched(factory, target.id, before)
    assert image["state"]["current"] == "new"
    assert image["state"]["error"]["message"] == error["detail"]
    assert f"error: {error['detail']}" in factory.log(target.id)
    assert not list(factory.data_dir.rglob("evil"))


def test_a_multipart_body_cut_short_is_truncated(factory: Factory, archives: Archives) -> None:
    content_type, head, _tail = multipart(archives.get("oci"))
    target = uploadable(factory)
    before = store_blobs(factory)
    response = factory.client.post(
        f"/v1/images/{target.id}/upload",
        params={"hub-id": factory.hub_id, "token": target.token},
        content=head + archives.get("oci"),
        headers={"Content-Type": content_type},
    )
    error = assert_error(response, 422, "422.invalid-input")
    assert "truncated" in error["detail"]
    assert assert_untouched(factory, target.id, before)["state"]["current"] == "new"


def test_a_client_that_goes_away_leaves_nothing(tmp_path: Path, archives: Archives) -> None:
    """The connection closes halfway through the body: the image returns to `new` with an error saying the
    upload was interrupted; no blob and no staging remain."""
    settings_ = make_settings(tmp_path / "data")
    with live_server(settings_) as server:
        client = httpx.Client(base_url=server.url, headers=server.headers, timeout=30)
        source = client.post("/v1/images/sources", json={"type": "direct", "origin": {"type": "cycle-upload"}})
        image = client.post("/v1/images", json={"source_id": source.json()["data"]["id"]}).json()["data"]
        token = image["source"]["details"]["origin"]["details"]["token"]
        data = archives.get("docker")
        content_type, head, tail = multipart(data)
        total = len(head) + len(data) + len(tail)
        address = urlsplit(server.url)
        with socket.create_connection((address.hostname, address.port)) as sock:
            request = (
                f"POST /v1/images/{image['id']}/upload?hub-id={server.hub_id}&token={token} HTTP/1.1\r\n"
                f"Host: {address.netloc}\r\nContent-Type: {content_type}\r\nContent-Length: {total}\r\n\r\n"
            ).encode()
            sock.sendall(request + head + data[: len(data) // 2])
            deadline = time.monotonic() + 30
            while client.get(f"/v1/images/{image['id']}").json()["data"]["state"]["current"] != "uploading":
                assert time.monotonic() < deadline
                time.sleep(0.02)
        deadline = time.monotonic() + 30
        while (current := client.get(f"/v1/images/{image['id']}").json()["data"])["state"]["current"] != "new":
            assert time.monotonic() < deadline, current
            time.sleep(0.02)
        assert "interrupted" in current["state"]["error"]["message"]
        blobs = settings_.data_dir / "store" / "blobs" / "sha256"
        assert not blobs.exists() or list(blobs.iterdir()) == []
        work = settings_.data_dir / "work"
        deadline = time.monotonic() + 30
        while work.exists() and list(work.iterdir()):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        client.close()


def test_the_token_stays_out_of_logs_and_errors(
    factory: Factory, archives: Archives, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither a successful nor a failed upload puts its token in an answer, a build log, an image or a log."""
    caplog.set_level(logging.DEBUG)
    target = uploadable(factory)
    failed = uploadable(factory)
    ok = upload(factory, target, archives.get("docker"))
    broken = upload(factory, failed, archives.get("docker")[:5000])
    texts = [
        ok.text,
        broken.text,
        factory.log(target.id),
        factory.log(failed.id),
        json.dumps(image_of(factory, failed.id)),
        # the server's records (the test client logs the URLs it requests, token included: that is this test)
        *(r.getMessage() for r in caplog.records if not r.name.startswith("httpx")),
    ]
    for token in (target.token, failed.token):
        assert not any(token in text for text in texts)


# --- the streaming parts, on their own -----------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payload=st.binary(max_size=5000),
    cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=40),
    other=st.binary(max_size=300),
)
def test_the_form_reader_yields_exactly_the_file_part_however_the_body_is_split(
    payload: bytes, cuts: list[int], other: bytes
) -> None:
    boundary = "b0undary-xyz"

    def scrub(data: bytes, needle: bytes) -> bytes:
        while needle in data:
            data = data.replace(needle, b"")
        return data

    payload = scrub(payload, b"\r\n--" + boundary.encode())
    other = scrub(other, b"--" + boundary.encode())
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\n'.encode()
        + other
        + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="file.tar"; filename="a.tar"\r\n\r\n'.encode()
        + payload
        + f"\r\n--{boundary}--\r\n".encode()
    )
    expected = payload
    reader = _FormReader(boundary.encode())
    received, position = b"", 0
    for cut in [*cuts, len(body)]:
        received += b"".join(reader.feed(body[position : position + cut]))
        position += cut
        if position >= len(body):
            break
    reader.finish()
    assert received == expected


@settings(max_examples=40, deadline=None)
@given(
    pieces=st.lists(st.binary(min_size=1, max_size=3000), max_size=30),
    sizes=st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=10),
)
def test_the_pipe_hands_the_reader_every_byte_in_order(pieces: list[bytes], sizes: list[int]) -> None:
    async def main() -> bytes:
        pipe = _Pipe()

        def consume() -> bytes:
            out, turn = b"", 0
            while chunk := pipe.read(sizes[turn % len(sizes)]):
                assert len(chunk) <= sizes[turn % len(sizes)]
                out += chunk
                turn += 1
            return out

        reader = asyncio.create_task(asyncio.to_thread(consume))
        for piece in pieces:
            await pipe.write(piece)
        pipe.close()
        return await reader

    assert asyncio.run(main()) == b"".join(pieces)


def test_limit_errors_of_the_reader_become_max_exceeded() -> None:
    from imgsrc.errors import ArchiveLimitError
    from imgsrc.images.upload_body import _limit_error

    limited = _limit_error(ArchiveLimitError("entry x: archive holds more than 1000 bytes"))
    assert isinstance(limited, MaxExceededError)
    assert limited.source == "/file.tar"
    assert type(_limit_error(ArchiveError("archive is truncated"))) is ArchiveError
