"""``RegistryClient``: the OCI distribution API as the factory uses it.

Pull side: :meth:`~RegistryClient.head_manifest` (HEAD, which Docker Hub does not count against its pull
limit), :meth:`~RegistryClient.get_manifest` (digest verified or computed), :meth:`~RegistryClient.resolve`
(tag → index → platform manifest → config and layer descriptors), :meth:`~RegistryClient.fetch_small_blob`
(configs, bounded) and :meth:`~RegistryClient.download_blob` (resumable, verified; see :mod:`.transfer`).

Re-importing an unchanged tag costs one HEAD and nothing else: :meth:`~RegistryClient.resolve` takes a
``known`` predicate over digests; when the digest the HEAD reports (or the chosen platform's manifest digest)
is one the caller already holds, it returns :class:`UnchangedImage` without a GET.

Push side (an external registry as the store): :meth:`~RegistryClient.blob_exists`,
:meth:`~RegistryClient.mount_blob`, :meth:`~RegistryClient.upload_blob`, :meth:`~RegistryClient.put_manifest`.

A reference whose registry is ``docker.io`` is served by ``settings.dockerhub_registry_url``
(:func:`registry_base_url`); Bearer challenges are honoured whatever realm they name.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final, NamedTuple, Self

import httpx

from imgsrc.aio import first_error
from imgsrc.errors import IntegrityError, InvalidArgumentError, RegistryError, UpstreamNotFoundError
from imgsrc.reference import DOCKER_HUB, Digest
from imgsrc.registry import transfer
from imgsrc.registry.auth import repository_scope
from imgsrc.registry.credentials import CredentialsProvider
from imgsrc.registry.manifests import (
    INDEX_MEDIA_TYPES,
    MANIFEST_ACCEPT,
    Descriptor,
    ImageIndex,
    ImageManifest,
    Platform,
    parse_manifest,
    select_platform,
)
from imgsrc.registry.session import RegistrySession
from imgsrc.settings import Settings

MAX_INDEX_ENTRIES: Final = 256
"""The most manifests an index kept whole may list (Docker Hub's largest official images list about 20)."""


__all__ = [
    "FetchedManifest",
    "PlatformManifest",
    "RegistryClient",
    "ResolvedImage",
    "UnchangedImage",
    "registry_base_url",
]


def registry_base_url(registry: str, settings: Settings, *, scheme: str = "https") -> str:
    """The base URL serving ``registry`` (a reference's host): Docker Hub's configured endpoint for
    ``docker.io``, else ``<scheme>://<registry>``."""
    if registry == DOCKER_HUB:
        return settings.dockerhub_registry_url.rstrip("/")
    return f"{scheme}://{registry}"


class FetchedManifest(NamedTuple):
    """A manifest or index as served: raw bytes (what the digest covers), media type and digest."""

    raw: bytes
    media_type: str
    digest: str

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.raw))


class IndexNotKeptError(RegistryError):
    """An index cannot be kept whole (the chosen platform can still be imported alone)."""


@dataclass(frozen=True)
class PlatformManifest:
    """Another entry of an index kept whole: an image of another platform, or an attestation / artifact."""

    digest: str
    raw: bytes = dataclasses.field(repr=False)
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    platform: Platform | None
    is_image: bool

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.raw))

    @property
    def blobs(self) -> tuple[Descriptor, ...]:
        """The blobs to copy: config and layers, except the layers the manifest says live elsewhere (Windows
        foreign / non-distributable layers with ``urls``), which clients fetch from there, as registries expect."""
        return (self.config, *(d for d in self.layers if not d.served_elsewhere))


@dataclass(frozen=True)
class ResolvedImage:
    """An image ready to download: one platform's manifest, and, when the index is kept whole, the index and
    its other entries.

    ``digest`` is what the reference points to (the index's digest for a multi-arch tag); ``index_digest`` is
    set when an index was involved, ``platform`` is the platform chosen from it. ``index`` (the raw index,
    byte for byte) and ``others`` are set only when :meth:`RegistryClient.resolve` was asked for every platform
    and the index can be kept; ``index_note`` says why it could not (the chosen platform is kept alone then).
    """

    digest: str
    index_digest: str | None
    manifest_digest: str
    manifest: bytes
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    platform: Platform | None
    index: FetchedManifest | None = None
    others: tuple[PlatformManifest, ...] = ()
    index_note: str | None = None

    @property
    def blobs(self) -> tuple[Descriptor, ...]:
        """Config then layers: every blob the chosen platform's image references."""
        return (self.config, *self.layers)

    @property
    def all_blobs(self) -> tuple[Descriptor, ...]:
        """Every blob of every manifest kept (the chosen platform's first), each digest once."""
        seen: dict[str, Descriptor] = {}
        for blob in (*self.blobs, *(b for other in self.others for b in other.blobs)):
            seen.setdefault(blob.digest, blob)
        return tuple(seen.values())


@dataclass(frozen=True)
class UnchangedImage:
    """The reference resolves to content the caller already holds (its ``known`` predicate said so).

    ``known_digest`` is the digest that was recognised: the reference's own (``digest``), or, for an index
    that changed, the chosen platform manifest's.
    """

    digest: str
    index_digest: str | None
    known_digest: str


class RegistryClient:
    """An async client of one registry. Use as ``async with RegistryClient(...) as client``.

    ``transport`` is the test seam (any httpx transport); ``sleep``, ``clock`` and ``rand`` let tests observe
    back-off waits and token expiry without waiting.
    """

    def __init__(
        self,
        base_url: str,
        credentials: CredentialsProvider | None,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        max_retry_after: float = 300.0,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InvalidArgumentError("registry base URL must start with http:// or https://")
        self._settings = settings
        self._session = RegistrySession(
            base_url,
            credentials,
            timeout=settings.http_timeout_seconds,
            retries=settings.retries,
            max_connections=settings.parallel_downloads * 2,
            transport=transport,
            sleep=sleep,
            clock=clock,
            rand=rand,
            max_retry_after=max_retry_after,
        )
        self._executor: ThreadPoolExecutor | None = None

    @property
    def host(self) -> str:
        return self._session.host

    async def __aenter__(self) -> Self:
        # Writes and hashing of downloads run here, away from the event loop and from the default executor.
        self._executor = ThreadPoolExecutor(
            max_workers=self._settings.parallel_downloads + 1, thread_name_prefix="imgsrc-blob"
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._session.aclose()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    # --- manifests --------------------------------------------------------------------------------------------

    def _manifest_url(self, repository: str, reference: str) -> str:
        return f"{self._session.base_url}/v2/{repository}/manifests/{reference}"

    def _where(self, repository: str, reference: str) -> str:
        sep = "@" if reference.startswith("sha") and ":" in reference else ":"
        return f"{self.host}/{repository}{sep}{reference}"

    async def head_manifest(self, repository: str, reference: str) -> Descriptor | None:
        """The descriptor ``reference`` (tag or digest) points to, from a HEAD; ``None`` if there is none.

        A registry whose HEAD answer carries no ``Docker-Content-Digest`` is asked with a GET instead.
        """
        what = f"manifest {self._where(repository, reference)}"
        answer = await self._session.request(
            "HEAD",
            self._manifest_url(repository, reference),
            scopes=(repository_scope(repository, ["pull"]),),
            what=what,
            headers={"Accept": MANIFEST_ACCEPT},
            follow_redirects=True,
            missing_ok=True,
        )
        if answer is None:
            return None
        response = answer[0]
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        digest = response.headers.get("docker-content-digest") or (
            reference if reference.startswith("sha256:") else None
        )
        length = response.headers.get("content-length", "")
        if digest is None or not length.isdigit():
            try:
                fetched = await self.get_manifest(repository, reference)
            except UpstreamNotFoundError:
                return None
            return Descriptor(fetched.media_type, fetched.digest, len(fetched.raw))
        return Descriptor(media_type, _checked_digest(digest, what), int(length))

    async def get_manifest(self, repository: str, reference: str) -> FetchedManifest:
        """GET a manifest or index (at most ``max_manifest_bytes``). Its digest is verified when
        ``reference`` is a digest, and checked against ``Docker-Content-Digest`` when the registry sends it."""
        what = f"manifest {self._where(repository, reference)}"
        answer = await self._session.request(
            "GET",
            self._manifest_url(repository, reference),
            scopes=(repository_scope(repository, ["pull"]),),
            what=what,
            headers={"Accept": MANIFEST_ACCEPT},
            max_body=self._settings.max_manifest_bytes,
            follow_redirects=True,
        )
        assert answer is not None  # noqa: S101 - missing_ok is False
        response, raw = answer
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        if reference.startswith("sha256:") and reference != digest:
            raise IntegrityError(f"{what}: content has digest {digest}")
        served = response.headers.get("docker-content-digest")
        if served and served.startswith("sha256:") and served != digest:
            raise IntegrityError(f"{what}: registry says digest {served}, content has {digest}")
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        return FetchedManifest(raw, media_type, digest)

    async def resolve(
        self,
        repository: str,
        reference: str,
        platform: Platform | str | None = None,
        *,
        known: Callable[[str], bool] | None = None,
        all_platforms: bool = False,
    ) -> ResolvedImage | UnchangedImage:
        """Resolve ``reference`` to one platform's image: HEAD, then (unless ``known`` recognises the digest)
        GET by digest; an index selects ``platform`` (default ``settings.default_platform``) and its manifest
        is fetched (unless ``known`` recognises that one). Schema 1 and unknown media types are refused.

        With ``all_platforms`` an index is kept whole: every other entry's manifest is fetched too (attestations
        and artifacts included, so that the index can be served byte for byte), and only the index's own digest
        counts as known (a changed index may hold changed platforms even if the chosen one is unchanged)."""
        if not isinstance(platform, Platform):
            platform = Platform.parse(platform or self._settings.default_platform)
        is_known = known or (lambda _digest: False)
        head = await self.head_manifest(repository, reference)
        if head is None:
            raise UpstreamNotFoundError(f"manifest {self._where(repository, reference)}: not found")
        index_digest = head.digest if head.media_type in INDEX_MEDIA_TYPES else None
        if is_known(head.digest):
            return UnchangedImage(head.digest, index_digest, head.digest)
        fetched = await self.get_manifest(repository, head.digest)
        where = self._where(repository, head.digest)
        document = parse_manifest(
            fetched.raw, fetched.media_type, where=where, max_bytes=self._settings.max_manifest_bytes
        )
        chosen: Platform | None = None
        kept: FetchedManifest | None = None
        others: tuple[PlatformManifest, ...] = ()
        note: str | None = None
        if isinstance(document, ImageIndex):
            index_digest = fetched.digest
            entry = select_platform(document, platform, where=where)
            chosen = entry.platform
            if not all_platforms and is_known(entry.digest):
                return UnchangedImage(head.digest, index_digest, entry.digest)
            if all_platforms:
                try:
                    others = await self._index_entries(repository, document, entry, where)
                    kept = fetched
                except IndexNotKeptError as exc:
                    note = exc.detail
            fetched, document = await self._entry_manifest(repository, entry, where)
            where = self._where(repository, entry.digest)
        if document.config.size > self._settings.max_manifest_bytes:
            raise RegistryError(f"{where}: image config of {document.config.size} bytes exceeds the limit")
        return ResolvedImage(
            digest=head.digest,
            index_digest=index_digest,
            manifest_digest=fetched.digest,
            manifest=fetched.raw,
            media_type=document.media_type,
            config=document.config,
            layers=document.layers,
            platform=chosen,
            index=kept,
            others=others,
            index_note=note,
        )

    async def _entry_manifest(
        self, repository: str, entry: Descriptor, index_where: str
    ) -> tuple[FetchedManifest, ImageManifest]:
        """The image manifest the chosen index entry points to (by digest, so verified), parsed."""
        if entry.size > self._settings.max_manifest_bytes:
            raise RegistryError(f"{index_where}: manifest {entry.digest} is larger than the limit")
        fetched = await self.get_manifest(repository, entry.digest)
        where = self._where(repository, entry.digest)
        document = parse_manifest(
            fetched.raw, fetched.media_type, where=where, max_bytes=self._settings.max_manifest_bytes
        )
        if isinstance(document, ImageIndex):
            raise RegistryError(f"{where}: an index inside an index is not supported")
        return fetched, document

    async def _index_entries(
        self, repository: str, index: ImageIndex, chosen: Descriptor, where: str
    ) -> tuple[PlatformManifest, ...]:
        """Every entry of ``index`` but ``chosen``, fetched a few at a time, in the index's order.

        :class:`IndexNotKeptError` when the index cannot be kept whole: too many entries or a nested index
        (refused before anything is fetched), an entry the registry does not have, or one that is not a manifest
        imgsrc can store. Transport, authentication and integrity failures are raised as they are."""
        wanted = list({e.digest: e for e in index.manifests if e.digest != chosen.digest}.values())
        limit = self._settings.max_manifest_bytes
        if len(wanted) >= MAX_INDEX_ENTRIES:
            raise IndexNotKeptError(
                f"the index lists {len(wanted) + 1} manifests, more than the {MAX_INDEX_ENTRIES} an index kept "
                "whole may hold"
            )
        for entry in wanted:
            if entry.media_type in INDEX_MEDIA_TYPES:
                raise IndexNotKeptError(f"an index inside the index ({entry.digest}) is not supported")
            if entry.size > limit:
                raise IndexNotKeptError(f"manifest {entry.digest} is larger than the limit")
        slots = asyncio.Semaphore(self._settings.parallel_downloads)

        async def one(entry: Descriptor) -> PlatformManifest:
            async with slots:
                try:
                    fetched = await self.get_manifest(repository, entry.digest)
                except UpstreamNotFoundError:
                    shown = entry.platform or "no platform"
                    raise IndexNotKeptError(f"{self.host} lacks the index's entry {entry.digest} ({shown})") from None
            try:
                document = parse_manifest(fetched.raw, fetched.media_type, where=where, max_bytes=limit, strict=False)
            except RegistryError as exc:
                raise IndexNotKeptError(exc.detail) from None
            if isinstance(document, ImageIndex):
                raise IndexNotKeptError(f"an index inside the index ({entry.digest}) is not supported")
            if document.is_image and document.config.size > limit:
                raise IndexNotKeptError(f"the image config of {entry.digest} exceeds the size limit")
            return PlatformManifest(
                digest=fetched.digest,
                raw=fetched.raw,
                media_type=document.media_type,
                config=document.config,
                layers=document.layers,
                platform=entry.platform,
                is_image=document.is_image,
            )

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(entry)) for entry in wanted]
        except BaseExceptionGroup as failures:
            raise first_error(failures) from None
        return tuple(task.result() for task in tasks)

    # --- blobs ------------------------------------------------------------------------------------------------

    async def fetch_small_blob(self, repository: str, descriptor: Descriptor) -> bytes:
        """A small blob (an image config) in memory, at most ``max_manifest_bytes``, size and digest verified."""
        what = f"blob {descriptor.digest} of {self.host}/{repository}"
        limit = self._settings.max_manifest_bytes
        if descriptor.size > limit:
            raise RegistryError(f"{what}: {descriptor.size} bytes exceeds the limit of {limit}")
        answer = await self._session.request(
            "GET",
            f"{self._session.base_url}/v2/{repository}/blobs/{descriptor.digest}",
            scopes=(repository_scope(repository, ["pull"]),),
            what=what,
            headers={"Accept-Encoding": "identity"},
            max_body=limit,
            follow_redirects=True,
        )
        assert answer is not None  # noqa: S101 - missing_ok is False
        data = answer[1]
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if len(data) != descriptor.size or digest != descriptor.digest:
            raise IntegrityError(f"{what}: got {len(data)} bytes with digest {digest}")
        return data

    async def download_blob(
        self,
        repository: str,
        descriptor: Descriptor,
        dest: Path,
        *,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Stream a blob into ``dest`` (the caller's temporary file), resuming from bytes already there.

        Verified at the end: a size or digest mismatch raises :class:`~imgsrc.errors.IntegrityError` and
        removes ``dest``. ``progress`` receives the bytes of this blob held so far.
        """
        await transfer.download_blob(
            self._session, repository, descriptor, dest, executor=self._executor, progress=progress
        )

    async def stream_blob(
        self, repository: str, digest: str, *, start: int = 0, length: int, chunk_size: int = 1024 * 1024
    ) -> AsyncIterator[bytes]:
        """Bytes ``start`` to ``start + length`` of a blob, as they arrive (serving an image kept in this
        registry). Asks with ``Range`` and copes with a registry that answers the whole blob. Yields exactly
        ``length`` bytes or raises (:class:`~imgsrc.errors.IntegrityError` for a short body); not retried (the
        reader on the other end resumes with its own ``Range``)."""
        what = f"blob {digest} of {self.host}/{repository}"
        headers = {"Accept-Encoding": "identity"}
        if start or length:
            headers["Range"] = f"bytes={start}-{start + length - 1}"
        try:
            async with self._session.stream(
                "GET",
                f"{self._session.base_url}/v2/{repository}/blobs/{digest}",
                scopes=(repository_scope(repository, ["pull"]),),
                headers=headers,
                follow_redirects=True,
            ) as response:
                if response.status_code == 404:
                    raise UpstreamNotFoundError(f"{what}: not found")
                if response.status_code not in (200, 206):
                    raise RegistryError(f"{what}: the registry answered {response.status_code}")
                skip = start if response.status_code == 200 else 0
                left = length
                async for received in response.aiter_raw(chunk_size):
                    cut = min(skip, len(received))
                    skip -= cut
                    piece = received[cut : cut + left]
                    if not piece:
                        continue
                    left -= len(piece)
                    yield piece
                    if not left:
                        return
        except httpx.HTTPError as exc:
            raise RegistryError(f"{what}: transfer failed ({type(exc).__name__})") from exc
        if left:
            raise IntegrityError(f"{what}: the registry sent {length - left} of {length} bytes")

    # --- push side --------------------------------------------------------------------------------------------

    async def blob_exists(self, repository: str, digest: str) -> bool:
        """Whether ``repository`` has blob ``digest`` (HEAD)."""
        answer = await self._session.request(
            "HEAD",
            f"{self._session.base_url}/v2/{repository}/blobs/{digest}",
            scopes=(repository_scope(repository, ["pull", "push"]),),
            what=f"blob {digest} of {self.host}/{repository}",
            follow_redirects=True,
            missing_ok=True,
        )
        return answer is not None

    async def mount_blob(self, repository: str, digest: str, from_repository: str) -> bool:
        """Ask the registry to link ``digest`` from ``from_repository`` into ``repository`` (no transfer).
        ``False`` when it would not (the upload session it opened instead is cancelled)."""
        what = f"mount of {digest} from {from_repository} into {self.host}/{repository}"
        scopes = (
            repository_scope(repository, ["pull", "push"]),
            repository_scope(from_repository, ["pull"]),
        )
        url = httpx.URL(f"{self._session.base_url}/v2/{repository}/blobs/uploads/").copy_merge_params(
            {"mount": digest, "from": from_repository}
        )
        answer = await self._session.request("POST", str(url), scopes=scopes, what=what, ok=(201, 202))
        assert answer is not None  # noqa: S101 - missing_ok is False
        response = answer[0]
        if response.status_code == 201:
            return True
        location = response.headers.get("location")
        if location:
            cancel = httpx.URL(self._session.base_url).join(location)
            await self._session.request("DELETE", str(cancel), scopes=scopes, what=what, ok=(202, 204), missing_ok=True)
        return False

    async def upload_blob(self, repository: str, digest: str, path: Path, *, chunk_size: int | None = None) -> None:
        """Upload the file at ``path`` as ``digest`` (streamed; chunked when ``chunk_size`` is given)."""
        Digest.parse(digest)
        await transfer.upload_blob(self._session, repository, digest, path, chunk_size=chunk_size)

    async def put_manifest(self, repository: str, reference: str, raw: bytes, media_type: str) -> str:
        """Store a manifest under ``reference`` (tag or digest); returns its digest (checked against the
        registry's answer)."""
        what = f"manifest {self._where(repository, reference)}"
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        if reference.startswith("sha256:") and reference != digest:
            raise IntegrityError(f"{what}: content has digest {digest}")
        answer = await self._session.request(
            "PUT",
            self._manifest_url(repository, reference),
            scopes=(repository_scope(repository, ["pull", "push"]),),
            what=what,
            headers={"Content-Type": media_type},
            content=raw,
            ok=(201,),
        )
        assert answer is not None  # noqa: S101 - missing_ok is False
        served = answer[0].headers.get("docker-content-digest")
        if served and served != digest:
            raise IntegrityError(f"{what}: registry stored digest {served}, expected {digest}")
        return digest


def _checked_digest(value: str, what: str) -> str:
    try:
        return str(Digest.parse(value))
    except InvalidArgumentError as exc:
        raise RegistryError(f"{what}: registry sent an invalid digest") from exc
