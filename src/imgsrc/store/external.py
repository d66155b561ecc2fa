"""An external OCI registry as the store of live images (``IMGSRC_STORAGE=registry``).

At scale, operators keep images in a registry of their choice — a distribution server backed by object storage,
for instance. Saving an image then pushes it there: each blob is checked for existence first, mounted from
another repository of the same registry when one already holds it (no transfer), uploaded otherwise, and the
manifest goes last (so a manifest never names a blob the registry lacks). Repositories are
``<prefix>/<hub id>/<source id>``; each image's manifest is tagged with the image ID.

Manifests and configs stay in the local content store as well (they are small and ``/v2`` serves them byte for
byte); layers are served from the external registry, streamed through.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from imgsrc.errors import InvalidArgumentError, RegistryError
from imgsrc.reference import RegistryURL, parse_registry_url
from imgsrc.registry.client import RegistryClient
from imgsrc.registry.credentials import CredentialsProvider, StaticCredentials
from imgsrc.settings import Settings
from imgsrc.store.filesystem import FilesystemBlobStore

__all__ = ["ExternalRegistry", "PushBlob"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushBlob:
    digest: str
    size: int


class ExternalRegistry:
    """Where live images are kept when the store is an external registry. Built by the composition root."""

    provider = "registry"

    def __init__(self, settings: Settings) -> None:
        if not settings.storage_registry_url:
            raise InvalidArgumentError("IMGSRC_STORAGE=registry needs IMGSRC_STORAGE_REGISTRY_URL")
        self._settings = settings
        self.endpoint: RegistryURL = parse_registry_url(settings.storage_registry_url)
        self.prefix = "/".join(p for p in (self.endpoint.prefix, settings.storage_registry_prefix.strip("/")) if p)

    def credentials(self) -> CredentialsProvider | None:
        password = self._settings.storage_registry_password
        if self._settings.storage_registry_username and password is not None:
            return StaticCredentials(self._settings.storage_registry_username, password.get_secret_value())
        return None

    def client(self) -> RegistryClient:
        """A client of the registry (use as ``async with``)."""
        return RegistryClient(self.endpoint.base_url, self.credentials(), self._settings)

    def repository(self, hub_id: str, source_id: str) -> str:
        return f"{self.prefix}/{hub_id}/{source_id}" if self.prefix else f"{hub_id}/{source_id}"

    def location(self, repository: str, manifest_digest: str) -> str:
        """What ``backend.file_name`` says: the manifest's reference in the registry."""
        return f"{self.endpoint.host}/{repository}@{manifest_digest}"

    @staticmethod
    def repository_of(location: str) -> str:
        """The repository part of a :meth:`location`."""
        name = location.split("@", 1)[0]
        return name.split("/", 1)[1] if "/" in name else name

    async def push(
        self,
        repository: str,
        *,
        manifest: bytes,
        manifest_media_type: str,
        tag: str,
        blobs: Sequence[PushBlob],
        local: FilesystemBlobStore,
        mount_candidates: Callable[[str], list[str]],
        log_line: Callable[[str], object] | None = None,
        children: Sequence[tuple[str, bytes, str]] = (),
    ) -> None:
        """Push an image: blobs (existence check, then cross-repository mount, then upload from the local store),
        then ``children`` (the manifests an index lists: digest, raw bytes, media type) by digest, then ``manifest``
        under ``tag``. Idempotent: re-running it after a failure redoes only what is missing."""
        async with self.client() as client:
            for blob in blobs:
                how = await self._push_blob(client, repository, blob, local, mount_candidates(blob.digest))
                if log_line is not None:
                    log_line(f"storage: {blob.digest[:19]} {how}")
            for digest, raw, media_type in children:  # put_manifest checks the bytes have that digest
                await client.put_manifest(repository, digest, raw, media_type)
            await client.put_manifest(repository, tag, manifest, manifest_media_type)

    @staticmethod
    async def _push_blob(
        client: RegistryClient,
        repository: str,
        blob: PushBlob,
        local: FilesystemBlobStore,
        candidates: list[str],
    ) -> str:
        if await client.blob_exists(repository, blob.digest):
            return "already there"
        for other in candidates:
            if other != repository and await client.mount_blob(repository, blob.digest, other):
                return f"mounted from {other}"
        if not local.has(blob.digest):
            raise RegistryError(
                f"storage: blob {blob.digest} is neither in the local store nor mountable in the external registry"
            )
        await client.upload_blob(repository, blob.digest, local.path(blob.digest))
        return "uploaded"
