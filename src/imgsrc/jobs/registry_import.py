"""Import from a registry (docker-hub, docker-registry, oci-registry origins): resolve, download, verify, save."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from imgsrc.aio import first_error
from imgsrc.errors import InvalidArgumentError
from imgsrc.images import records
from imgsrc.images.config import config_summary, parse_image_config
from imgsrc.images.schemas import ImageOverride
from imgsrc.jobs.pipeline import ImportRun, human_bytes
from imgsrc.reference import DOCKER_HUB, ImageReference, parse_registry_url
from imgsrc.registry.client import RegistryClient, ResolvedImage, UnchangedImage, registry_base_url
from imgsrc.registry.credentials import CredentialsProvider, EcrCredentials, StaticCredentials, WebhookCredentials
from imgsrc.registry.manifests import Descriptor, parse_config
from imgsrc.registry.session import tls_context
from imgsrc.settings import Settings
from imgsrc.sources.origins import (
    DockerHubOrigin,
    DockerRegistryOrigin,
    ImageOrigin,
    OciRegistryOrigin,
    RegistryAuthProvider,
    RegistryAuthUser,
    RegistryAuthWebhook,
)

__all__ = ["Upstream", "import_from_registry", "upstream_for"]


@dataclass(frozen=True)
class Upstream:
    """Where an image comes from: the endpoint, the repository on it, the tag or digest, and who to be."""

    base_url: str
    repository: str
    reference: str
    display: str
    credentials: CredentialsProvider | None

    def __repr__(self) -> str:  # credentials stay out of reprs
        return f"Upstream({self.display!r} at {self.base_url!r})"


def _static(username: str | None, secret: str | None) -> CredentialsProvider | None:
    if secret:
        return StaticCredentials(username or "", secret)
    return None


def upstream_for(origin: ImageOrigin, override: ImageOverride, settings: Settings, http: httpx.AsyncClient) -> Upstream:
    """The upstream of a registry origin (``override.target`` replaces the source's target)."""
    if isinstance(origin, DockerHubOrigin):
        details = origin.details
        ref = ImageReference.parse(override.target or details.target)
        scheme = "https"
        if ref.registry != DOCKER_HUB:
            scheme = "http" if ref.registry.startswith(("localhost", "127.")) else "https"
        return Upstream(
            base_url=registry_base_url(ref.registry, settings, scheme=scheme),
            repository=ref.repository,
            reference=ref.reference,
            display=str(ref),
            credentials=_static(details.username, details.token),
        )
    if isinstance(origin, DockerRegistryOrigin | OciRegistryOrigin):
        endpoint = parse_registry_url(origin.details.url)
        target = override.target or origin.details.target
        ref = ImageReference.parse(target, default_registry=endpoint.host)
        if ref.registry != endpoint.host:
            raise InvalidArgumentError(
                f"the target names registry {ref.registry}, the source's url {endpoint.host}",
                source="/origin/details/target",
            )
        credentials: CredentialsProvider | None
        if isinstance(origin, DockerRegistryOrigin):
            credentials = _static(origin.details.username, origin.details.password or origin.details.token)
        else:
            credentials = _oci_credentials(origin, settings, http)
        repository = endpoint.repository(ref.repository)
        display = str(dataclasses.replace(ref, repository=repository))
        return Upstream(endpoint.base_url, repository, ref.reference, display, credentials)
    raise InvalidArgumentError(f"a `{origin.type}` origin is not a registry")


def _oci_credentials(
    origin: OciRegistryOrigin, settings: Settings, http: httpx.AsyncClient
) -> CredentialsProvider | None:
    auth = origin.details.auth
    if isinstance(auth, RegistryAuthUser):
        return _static(auth.details.username, auth.details.token)
    if isinstance(auth, RegistryAuthWebhook):
        return WebhookCredentials(auth.details.url, http)
    if isinstance(auth, RegistryAuthProvider):
        creds = auth.details.credentials
        if not (creds.region and creds.api_key and creds.secret):
            raise InvalidArgumentError("ECR credentials need `region`, `api_key` and `secret`")
        return EcrCredentials(creds.region, creds.api_key, creds.secret, endpoint_url=settings.ecr_endpoint_url)
    return None


@asynccontextmanager
async def _client(upstream: Upstream, settings: Settings, http: httpx.AsyncClient) -> AsyncIterator[RegistryClient]:
    async with RegistryClient(upstream.base_url, upstream.credentials, settings) as client:
        yield client


async def import_from_registry(run: ImportRun, origin: ImageOrigin, override: ImageOverride) -> None:
    settings = run.deps.settings
    whole = settings.import_all_platforms
    async with httpx.AsyncClient(timeout=settings.http_timeout_seconds, verify=tls_context()) as http:
        upstream = upstream_for(origin, override, settings, http)
        async with _client(upstream, settings, http) as client:
            await run.state("downloading")
            known = await run.ctx.run_sync(records.known_manifests, run.deps.db, run.hub_id, whole_indexes=whole)
            async with run.step("Resolve", upstream.display):
                await run.log(f"resolving {upstream.display} at {upstream.base_url}")
                resolved = await client.resolve(
                    upstream.repository, upstream.reference, known=known.__contains__, all_platforms=whole
                )
                if isinstance(resolved, UnchangedImage):
                    if await _reuse(run, resolved, upstream, whole_indexes=whole):
                        return
                    resolved = await client.resolve(upstream.repository, upstream.reference, all_platforms=whole)
                if not isinstance(resolved, ResolvedImage):  # pragma: no cover - known is not passed above
                    raise InvalidArgumentError("unexpected answer from the registry")
                await _log_resolved(run, resolved)
            await _download(run, client, upstream, resolved)
            await run.state("verifying")
            async with run.step("Verify"):
                config_raw = await run.ctx.run_sync(
                    run.deps.store.read_bytes, resolved.config.digest, settings.max_manifest_bytes
                )
                wire, gpu, document = parse_image_config(config_raw, layers=len(resolved.layers))
                await run.log(config_summary(document))
                await _verify_others(run, upstream, resolved)
            await run.state("saving")
            async with run.step("Save"):
                for raw, digest in _documents(resolved):
                    await run.put_document(raw, digest)
                size = sum(d.size for d in resolved.blobs)
                await run.finish(
                    records.StoredImage(
                        manifest_digest=resolved.manifest_digest,
                        manifest_media_type=resolved.media_type,
                        index_digest=resolved.index_digest,
                        platform=str(resolved.platform) if resolved.platform else None,
                        reference=upstream.display,
                        size=size,
                        config=wire,
                        requires_gpu=gpu,
                        provider="local",
                        file_name=f"blobs/sha256/{resolved.manifest_digest.split(':', 1)[1]}",
                    )
                )


def _documents(resolved: ResolvedImage) -> list[tuple[bytes, str]]:
    """The manifests to store, each with its digest: the chosen platform's, the index's other entries', the index."""
    out = [(resolved.manifest, resolved.manifest_digest)]
    out += [(other.raw, other.digest) for other in resolved.others]
    if resolved.index is not None:
        out.append((resolved.index.raw, resolved.index.digest))
    return out


async def _verify_others(run: ImportRun, upstream: Upstream, resolved: ResolvedImage) -> None:
    """The other platforms of an index kept whole: each image config parses and has one diff ID per layer
    (attestations and artifacts are checked by digest and size only, as they were downloaded)."""
    limit = run.deps.settings.max_manifest_bytes
    for other in resolved.others:
        if not other.is_image:
            continue
        raw = await run.ctx.run_sync(run.deps.store.read_bytes, other.config.digest, limit)
        parse_config(raw, other.layers, where=f"{upstream.display}@{other.digest}", max_bytes=limit)


async def _reuse(run: ImportRun, unchanged: UnchangedImage, upstream: Upstream, *, whole_indexes: bool) -> bool:
    """The hub already has this exact content live: copy that image's record, download nothing."""
    reused = await run.ctx.run_sync(
        functools.partial(
            records.reuse_live_image,
            run.deps.db,
            run.image_id,
            run.hub_id,
            unchanged.known_digest,
            whole_indexes=whole_indexes,
        )
    )
    if reused is None:
        return False
    stored, claims = reused
    for claim in claims:
        if claim.kind == "layer" and stored.provider != "local":
            continue  # kept in the external registry, not here
        if not await run.adopt(claim.digest):
            await run.log(f"{claim.digest} is missing from the store: importing in full")
            return False
    run.claims = claims
    await run.log(f"unchanged: {upstream.display} is {unchanged.digest}, already live in this hub; nothing to download")
    await run.state("verifying")
    await run.state("saving")
    await run.finish(dataclasses.replace(stored, reference=upstream.display))
    return True


async def _log_resolved(run: ImportRun, resolved: ResolvedImage) -> None:
    if resolved.index_digest:
        await run.log(f"index {resolved.index_digest}; platform {resolved.platform}")
    total = sum(d.size for d in resolved.blobs)
    await run.log(
        f"manifest {resolved.manifest_digest} ({resolved.media_type}): {len(resolved.layers)} layer(s), "
        f"{human_bytes(total)}"
    )
    if resolved.index_note:
        await run.log(f"only platform {resolved.platform} kept: {resolved.index_note}")
    if resolved.index is not None:
        total = sum(d.size for d in resolved.all_blobs)
        await run.log_kept_index(resolved.index.digest, resolved.others, total=total)


def _claims(resolved: ResolvedImage) -> list[records.BlobClaim]:
    """Every blob the image will reference (an index kept whole: its other entries too, but not the foreign
    layers they say are served elsewhere)."""
    return records.image_claims(
        Descriptor(resolved.media_type, resolved.manifest_digest, len(resolved.manifest)),
        resolved.config,
        resolved.layers,
        index=resolved.index.descriptor if resolved.index else None,
        others=[(other.descriptor, other.config, other.blobs[1:]) for other in resolved.others],
    )


async def _download(run: ImportRun, client: RegistryClient, upstream: Upstream, resolved: ResolvedImage) -> None:
    await run.claim(_claims(resolved))
    streamed = [d for d in resolved.all_blobs if d.digest != resolved.config.digest]
    run.progress.bytes_total = sum(d.size for d in resolved.all_blobs)
    run.progress.layers_total = len(streamed)
    what = "blob(s) of every platform" if resolved.index is not None else "layer(s)"
    async with run.step("Download", f"{len(streamed)} {what}, {human_bytes(run.progress.bytes_total)}"):
        if not await run.adopt(resolved.config.digest):
            config = await client.fetch_small_blob(upstream.repository, resolved.config)
            await run.put_bytes(config)
        run.progress.per_blob[resolved.config.digest] = resolved.config.size
        slots = asyncio.Semaphore(run.deps.settings.parallel_downloads)
        reporter = asyncio.create_task(_report_loop(run))
        try:
            async with asyncio.TaskGroup() as group:
                for blob in streamed:
                    group.create_task(_layer(run, client, upstream, blob, slots))
        except BaseExceptionGroup as failures:
            raise first_error(failures) from None
        finally:
            reporter.cancel()
        await run.report(flush=True)


async def _layer(
    run: ImportRun, client: RegistryClient, upstream: Upstream, layer: Descriptor, slots: asyncio.Semaphore
) -> None:
    short = layer.digest[:19]
    async with slots:
        started = time.monotonic()

        async def fetch(temp: Path, moved: Callable[[int], None]) -> None:
            await client.download_blob(upstream.repository, layer, temp, progress=moved)

        fetched = await run.fetch_blob(layer.digest, layer.size, fetch)
    if fetched:
        run.progress.layers_done += 1
        elapsed = max(time.monotonic() - started, 1e-6)
        await run.log(
            f"layer {short} {human_bytes(layer.size)} fetched in {elapsed:.2f}s ({human_bytes(layer.size / elapsed)}/s)"
        )
    else:
        run.progress.layers_present += 1
        run.progress.per_blob[layer.digest] = layer.size
        await run.log(f"layer {short} {human_bytes(layer.size)} already stored")


async def _report_loop(run: ImportRun) -> None:
    while True:
        await run.report()
        await asyncio.sleep(0.5)
