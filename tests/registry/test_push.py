"""The push side of ``RegistryClient`` against a real registry: blob existence, cross-repository mounts,
monolithic and chunked uploads streamed from files, manifests stored and read back by skopeo-independent
pulls, and a full copy of an image between two registries."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from imgsrc.errors import IntegrityError, RegistryError
from imgsrc.registry import ResolvedImage
from imgsrc.registry.manifests import OCI_MANIFEST
from tests.registry.conftest import ClientFactory, run
from tests.support.faults import start_fault_proxy
from tests.support.images import push_image
from tests.support.registry import RunningRegistry

pytestmark = pytest.mark.registry


def _blob(tmp_path: Path, size: int) -> tuple[Path, str]:
    path = tmp_path / f"blob-{size}"
    path.write_bytes(os.urandom(size))
    return path, "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("chunk_size", [None, 64 * 1024])
def test_upload_then_blob_exists(
    basic_registry: RunningRegistry, make_client: ClientFactory, tmp_path: Path, chunk_size: int | None
) -> None:
    path, digest = _blob(tmp_path, 300_000)

    async def scenario() -> None:
        async with make_client(basic_registry) as client:
            assert not await client.blob_exists("push/upload", digest)
            await client.upload_blob("push/upload", digest, path, chunk_size=chunk_size)
            assert await client.blob_exists("push/upload", digest)

    run(scenario())


def test_chunked_upload_sends_patches(registry: RunningRegistry, make_client: ClientFactory, tmp_path: Path) -> None:
    path, digest = _blob(tmp_path, 200_000)
    with start_fault_proxy(registry.url) as proxy:

        async def scenario() -> None:
            async with make_client(proxy.url) as client:
                await client.upload_blob("push/chunked", digest, path, chunk_size=64 * 1024)

        run(scenario())
        assert proxy.count("PATCH", r"/v2/push/chunked/blobs/uploads/.+") == 4
        assert proxy.count("PUT", r"/v2/push/chunked/blobs/uploads/.+") == 1


def test_upload_with_a_wrong_digest_is_refused(
    registry: RunningRegistry, make_client: ClientFactory, tmp_path: Path
) -> None:
    path, _ = _blob(tmp_path, 1000)

    async def scenario() -> None:
        async with make_client(registry) as client:
            await client.upload_blob("push/wrong", "sha256:" + "0" * 64, path)

    with pytest.raises(RegistryError, match="DIGEST_INVALID"):
        run(scenario())


def test_mount_links_a_blob_from_another_repository(
    registry: RunningRegistry, make_client: ClientFactory, tmp_path: Path
) -> None:
    path, digest = _blob(tmp_path, 5000)

    async def scenario() -> None:
        async with make_client(registry) as client:
            await client.upload_blob("push/source", digest, path)
            assert await client.mount_blob("push/target", digest, "push/source")
            assert await client.blob_exists("push/target", digest)
            assert not await client.mount_blob("push/target2", "sha256:" + "1" * 64, "push/source")

    run(scenario())


def test_copy_an_image_between_registries(
    registry: RunningRegistry, basic_registry: RunningRegistry, make_client: ClientFactory, tmp_path: Path
) -> None:
    image = push_image(registry, tmp_path, "push/copy-src", layer_sizes=(1000, 2000))

    async def scenario() -> None:
        async with make_client(registry) as source, make_client(basic_registry) as target:
            resolved = await source.resolve("push/copy-src", "latest")
            assert isinstance(resolved, ResolvedImage)
            for blob in resolved.blobs:
                dest = tmp_path / blob.digest.removeprefix("sha256:")
                await source.download_blob("push/copy-src", blob, dest)
                if not await target.blob_exists("push/copy-dst", blob.digest):
                    await target.upload_blob("push/copy-dst", blob.digest, dest)
            digest = await target.put_manifest("push/copy-dst", "v1", resolved.manifest, resolved.media_type)
            assert digest == image.manifest_digest
            again = await target.resolve("push/copy-dst", "v1")
            assert isinstance(again, ResolvedImage)
            assert again.manifest == image.manifest_bytes

    run(scenario())


def test_put_manifest_by_digest_checks_the_content(
    registry: RunningRegistry, make_client: ClientFactory, tmp_path: Path
) -> None:
    image = push_image(registry, tmp_path, "push/by-digest")

    async def scenario() -> None:
        async with make_client(registry) as client:
            await client.put_manifest("push/by-digest", image.manifest_digest, image.manifest_bytes, OCI_MANIFEST)
            with pytest.raises(IntegrityError):
                await client.put_manifest("push/by-digest", image.manifest_digest, b"{}", OCI_MANIFEST)

    run(scenario())
