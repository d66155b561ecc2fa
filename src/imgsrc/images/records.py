"""What the factory writes about images while it works (worker side; blocking, run in threads).

Every write that moves an image forward is conditional on the image not being deleted meanwhile, so a deletion
always wins a race with an import: the import notices (:class:`~imgsrc.errors.CancelledError`) and stops.
"""

from __future__ import annotations

import socket
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, delete, select, update

from imgsrc.db import Database
from imgsrc.errors import CancelledError, NotFoundError
from imgsrc.ids import new_id
from imgsrc.images.models import BuildLogRow, ImageBlobRow, ImageRow
from imgsrc.images.schemas import ImageConfig, ImageOverride
from imgsrc.jobs.models import JobRow
from imgsrc.jobs.service import cancel_import
from imgsrc.oci import Descriptor
from imgsrc.secretfields import apply_secrets
from imgsrc.sources.models import SourceRow
from imgsrc.sources.origins import ImageOrigin
from imgsrc.sources.service import inherit_existing, parse_origin
from imgsrc.store.external import ExternalRegistry
from imgsrc.vault import Vault
from imgsrc.wire import utcnow

__all__ = [
    "BlobClaim",
    "ImportPlan",
    "StoredImage",
    "append_log",
    "claim_blobs",
    "delete_image",
    "fail_import",
    "finish_import",
    "image_claims",
    "image_source_id",
    "known_manifests",
    "load_plan",
    "mount_candidates",
    "referenced_digests",
    "reuse_live_image",
    "set_state",
    "sweep_interrupted_uploads",
    "touch_image",
]

_GONE = ("deleting", "deleted")


@dataclass(frozen=True)
class ImportPlan:
    """Everything an import needs, read once at its start. ``origin`` carries the secrets: never log it."""

    image_id: str
    hub_id: str
    source_id: str
    origin: ImageOrigin
    override: ImageOverride
    build_args: dict[str, str]
    use_disk: bool

    def __repr__(self) -> str:
        return f"ImportPlan(image_id={self.image_id!r}, origin_type={self.origin.type!r})"


@dataclass(frozen=True)
class BlobClaim:
    digest: str
    kind: str  # index (kept whole) | manifest | config | layer
    media_type: str
    size: int


@dataclass(frozen=True)
class StoredImage:
    manifest_digest: str
    manifest_media_type: str
    index_digest: str | None
    platform: str | None
    reference: str | None
    size: int
    config: ImageConfig
    requires_gpu: bool
    provider: str
    file_name: str


def image_claims(
    manifest: Descriptor,
    config: Descriptor,
    layers: Sequence[Descriptor],
    *,
    index: Descriptor | None = None,
    others: Sequence[tuple[Descriptor, Descriptor, Sequence[Descriptor]]] = (),
) -> list[BlobClaim]:
    """The blobs an image references, in order: the index it keeps whole (if any), the chosen platform's
    manifest, config and layers, then each other entry's manifest, config and layers (``others``)."""
    claims = [BlobClaim(index.digest, "index", index.media_type, index.size)] if index else []
    for entry_manifest, entry_config, entry_layers in ((manifest, config, layers), *others):
        claims.append(BlobClaim(entry_manifest.digest, "manifest", entry_manifest.media_type, entry_manifest.size))
        claims.append(BlobClaim(entry_config.digest, "config", entry_config.media_type, entry_config.size))
        claims += [BlobClaim(d.digest, "layer", d.media_type, d.size) for d in entry_layers]
    return claims


def load_plan(db: Database, vault: Vault, image_id: str) -> ImportPlan:
    """The image's origin as it was when the image was created, with the credentials its source holds now (a
    rotated token applies to images created before the rotation) and ``existing`` resolved."""
    with db.session() as session:
        row = session.get(ImageRow, image_id)
        if row is None:
            raise NotFoundError("image not found", code="404.image")
        if row.state in _GONE:
            raise CancelledError("the image was deleted")
        secrets = vault.open(row.origin_secrets)
        source = session.get(SourceRow, row.source_id)
        if source is not None and source.origin_type == row.origin_type:
            secrets.update(vault.open(source.origin_secrets))
        origin = inherit_existing(session, vault, row.hub_id, apply_secrets(parse_origin(row.origin), secrets))
        build = row.build or {}
        return ImportPlan(
            image_id=row.id,
            hub_id=row.hub_id,
            source_id=row.source_id,
            origin=origin,
            override=ImageOverride.model_validate(row.override or {}),
            build_args=dict(build.get("args") or {}),
            use_disk=bool(build.get("use_disk", False)),
        )


def set_state(db: Database, image_id: str, state: str) -> None:
    """Move the image to ``state``; :class:`CancelledError` if it is being deleted."""
    now = utcnow()
    with db.session() as session:
        result = session.execute(
            update(ImageRow)
            .where(ImageRow.id == image_id, ImageRow.state.not_in(_GONE))
            .values(state=state, state_changed=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise CancelledError("the image was deleted")


def claim_blobs(db: Database, image_id: str, blobs: Sequence[BlobClaim]) -> None:
    """Record the blobs the image needs, before they are fetched (garbage collection spares claimed blobs)."""
    with db.session() as session:
        session.execute(delete(ImageBlobRow).where(ImageBlobRow.image_id == image_id))
        seen: set[str] = set()
        for position, blob in enumerate(blobs):
            if blob.digest in seen:
                continue
            seen.add(blob.digest)
            session.add(
                ImageBlobRow(
                    image_id=image_id,
                    digest=blob.digest,
                    kind=blob.kind,
                    media_type=blob.media_type,
                    size=blob.size,
                    position=position,
                )
            )


def _kept_index_owners(digest: str) -> Select[str]:
    """IDs of the images that keep the index ``digest`` whole."""
    return select(ImageBlobRow.image_id).where(ImageBlobRow.kind == "index", ImageBlobRow.digest == digest)


def known_manifests(db: Database, hub_id: str, *, whole_indexes: bool = False) -> set[str]:
    """Manifest and index digests of the hub's live images: content that is already stored whole.

    With ``whole_indexes`` (imports keep indexes whole) an index counts only if an image kept it whole, and a
    manifest only if it was not chosen from an index (else the stored image would lack the other platforms)."""
    live = (ImageRow.hub_id == hub_id) & (ImageRow.state == "live")
    with db.session() as session:
        if not whole_indexes:
            rows = session.execute(select(ImageRow.manifest_digest, ImageRow.index_digest).where(live)).all()
            return {d for pair in rows for d in pair if d}
        singles = session.scalars(select(ImageRow.manifest_digest).where(live, ImageRow.index_digest.is_(None)))
        indexes = session.scalars(
            select(ImageBlobRow.digest)
            .join(ImageRow, ImageRow.id == ImageBlobRow.image_id)
            .where(live, ImageBlobRow.kind == "index")
        )
        return {d for d in (*singles, *indexes) if d}


def reuse_live_image(
    db: Database, image_id: str, hub_id: str, digest: str, *, whole_indexes: bool = False
) -> tuple[StoredImage, list[BlobClaim]] | None:
    """Make the image a copy of the hub's live image holding ``digest`` (manifest or index): same blobs, same
    details. Returns what was copied and the blobs it claims, or None if no such live image remains.
    ``whole_indexes`` accepts only a twin that holds ``digest`` whole, as :func:`known_manifests` does."""
    if whole_indexes:
        holds = (ImageRow.index_digest.is_(None) & (ImageRow.manifest_digest == digest)) | ImageRow.id.in_(
            _kept_index_owners(digest)
        )
    else:
        holds = (ImageRow.manifest_digest == digest) | (ImageRow.index_digest == digest)
    with db.session() as session:
        twin = session.scalar(
            select(ImageRow)
            .where(ImageRow.hub_id == hub_id, ImageRow.state == "live")
            .where(holds)
            .order_by(ImageRow.created_at.desc())
            .limit(1)
        )
        if twin is None or twin.manifest_digest is None:
            return None
        blobs = list(session.scalars(select(ImageBlobRow).where(ImageBlobRow.image_id == twin.id)))
        stored = StoredImage(
            manifest_digest=twin.manifest_digest,
            manifest_media_type=twin.manifest_media_type or "",
            index_digest=twin.index_digest,
            platform=twin.platform,
            reference=twin.reference,
            size=twin.size,
            config=ImageConfig.model_validate(twin.config or {}),
            requires_gpu=twin.requires_gpu,
            provider=twin.backend_provider or "local",
            file_name=twin.backend_file_name or "",
        )
        claims = [BlobClaim(b.digest, b.kind, b.media_type, b.size) for b in sorted(blobs, key=lambda b: b.position)]
    claim_blobs(db, image_id, claims)
    return stored, claims


def finish_import(db: Database, image_id: str, stored: StoredImage, *, acknowledged: datetime) -> None:
    """The image is ``live``."""
    now = utcnow()
    with db.session() as session:
        result = session.execute(
            update(ImageRow)
            .where(ImageRow.id == image_id, ImageRow.state.not_in(_GONE))
            .values(
                state="live",
                state_changed=now,
                updated_at=now,
                error_message=None,
                error_time=None,
                size=stored.size,
                backend_provider=stored.provider,
                backend_file_name=stored.file_name,
                config=stored.config.model_dump(mode="json"),
                requires_gpu=stored.requires_gpu,
                reference=stored.reference,
                manifest_digest=stored.manifest_digest,
                manifest_media_type=stored.manifest_media_type,
                index_digest=stored.index_digest,
                platform=stored.platform,
                factory_node=socket.gethostname(),
                factory_cached=now,
                factory_acknowledged=acknowledged,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise CancelledError("the image was deleted")


def fail_import(db: Database, image_id: str, message: str) -> None:
    """Record the failure on the image, return it to ``new`` (so the import can be retried), drop its claims."""
    now = utcnow()
    with db.session() as session:
        session.execute(
            update(ImageRow)
            .where(ImageRow.id == image_id, ImageRow.state.not_in(_GONE))
            .values(state="new", state_changed=now, updated_at=now, error_message=message[:4000], error_time=now)
            .execution_options(synchronize_session=False)
        )
        session.execute(delete(ImageBlobRow).where(ImageBlobRow.image_id == image_id))


def delete_image(db: Database, image_id: str) -> None:
    """The last step of an image's deletion: its claims on blobs go (garbage collection frees the blobs no
    other image references), and it is ``deleted``."""
    now = utcnow()
    with db.session() as session:
        session.execute(delete(ImageBlobRow).where(ImageBlobRow.image_id == image_id))
        session.execute(
            update(ImageRow)
            .where(ImageRow.id == image_id, ImageRow.state != "deleted")
            .values(state="deleted", state_changed=now, updated_at=now, deleted_at=now)
            .execution_options(synchronize_session=False)
        )


def append_log(db: Database, image_id: str, hub_id: str, text: str) -> None:
    """Append to the image's build log (created on first write)."""
    now = utcnow()
    with db.session() as session:
        result = session.execute(
            update(BuildLogRow)
            .where(BuildLogRow.image_id == image_id)
            .values(log=BuildLogRow.log + text, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            session.add(
                BuildLogRow(image_id=image_id, id=new_id(), hub_id=hub_id, log=text, created_at=now, updated_at=now)
            )


def reset_log(db: Database, image_id: str) -> None:
    """A new attempt starts a new account."""
    with db.session() as session:
        session.execute(
            update(BuildLogRow)
            .where(BuildLogRow.image_id == image_id)
            .values(log="", updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )


def referenced_digests(db: Database, digests: Collection[str]) -> set[str]:
    """Which of ``digests`` the local store must keep (garbage collection): those some image that is not deleted
    references or has claimed — except the layers of images kept in an external registry, which live there."""
    found: set[str] = set()
    items = list(digests)
    with db.session() as session:
        for start in range(0, len(items), 500):
            batch = items[start : start + 500]
            found.update(
                session.scalars(
                    select(ImageBlobRow.digest)
                    .join(ImageRow, ImageRow.id == ImageBlobRow.image_id)
                    .where(ImageBlobRow.digest.in_(batch), ImageRow.state != "deleted")
                    .where(
                        (ImageBlobRow.kind != "layer")
                        | ImageRow.backend_provider.is_(None)
                        | (ImageRow.backend_provider == "local")
                    )
                    .distinct()
                )
            )
    return found


def touch_image(db: Database, image_id: str) -> None:
    """A sign of life of work on the image that runs outside a job (an upload in an HTTP request)."""
    with db.session() as session:
        session.execute(
            update(ImageRow)
            .where(ImageRow.id == image_id, ImageRow.state.not_in(_GONE))
            .values(updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )


UPLOAD_STATES = ("uploading", "verifying", "saving")


def sweep_interrupted_uploads(db: Database, *, silent_for: timedelta) -> list[str]:
    """Uploads whose server went away mid-way (no sign of life for ``silent_for``): back to ``new`` with an
    error, claims dropped, so the image can be deleted or uploaded again with a new image."""
    cutoff = utcnow() - silent_for
    with db.session() as session:
        stale = list(
            session.scalars(
                select(ImageRow.id).where(
                    ImageRow.origin_type == "cycle-upload",
                    ImageRow.state.in_(UPLOAD_STATES),
                    ImageRow.updated_at < cutoff,
                )
            )
        )
    for image_id in stale:
        fail_import(db, image_id, "the upload was interrupted (the server handling it stopped)")
    return stale


def image_source_id(db: Database, image_id: str) -> str:
    with db.session() as session:
        return session.get_one(ImageRow, image_id).source_id


def mount_candidates(db: Database, digest: str, limit: int = 3) -> list[str]:
    """Repositories of the external registry known to hold ``digest`` (from live images kept there)."""
    with db.session() as session:
        names = session.scalars(
            select(ImageRow.backend_file_name)
            .join(ImageBlobRow, ImageBlobRow.image_id == ImageRow.id)
            .where(ImageBlobRow.digest == digest, ImageRow.backend_provider == "registry", ImageRow.state == "live")
            .limit(limit)
        ).all()
    return [ExternalRegistry.repository_of(n) for n in names if n]


def images_to_prune(db: Database, source_ids: list[str], *, older_than: timedelta) -> list[str]:
    """Images of the sources created before ``older_than`` ago, except each source's newest live image."""
    cutoff = utcnow() - older_than
    out: list[str] = []
    with db.session() as session:
        for source_id in source_ids:
            newest_live = session.scalar(
                select(ImageRow.id)
                .where(ImageRow.source_id == source_id, ImageRow.state == "live")
                .order_by(ImageRow.created_at.desc(), ImageRow.id.desc())
                .limit(1)
            )
            out.extend(
                session.scalars(
                    select(ImageRow.id).where(
                        ImageRow.source_id == source_id,
                        ImageRow.state.not_in(_GONE),
                        ImageRow.created_at < cutoff,
                        ImageRow.id != (newest_live or ""),
                    )
                )
            )
    return out


def mark_deleting(db: Database, image_ids: list[str]) -> list[str]:
    """Move images to ``deleting``; imports still queued are cancelled at once, running ones are asked to stop.
    Returns the import job IDs to wait for."""
    now = utcnow()
    jobs: list[str] = []
    with db.session() as session:
        for image_id in image_ids:
            row = session.get(ImageRow, image_id)
            if row is None or row.state == "deleted":
                continue
            if row.state != "deleting":
                row.state, row.state_changed, row.updated_at = "deleting", now, now
            if row.import_job_id:
                cancel_import(session, row.import_job_id)
                jobs.append(row.import_job_id)
    return jobs


def unfinished_jobs(db: Database, job_ids: Collection[str]) -> set[str]:
    if not job_ids:
        return set()
    with db.session() as session:
        return set(
            session.scalars(
                select(JobRow.id).where(JobRow.id.in_(list(job_ids)), JobRow.state.in_(("queued", "running", "new")))
            )
        )


def source_images(db: Database, source_id: str) -> list[str]:
    with db.session() as session:
        return list(
            session.scalars(select(ImageRow.id).where(ImageRow.source_id == source_id, ImageRow.state != "deleted"))
        )
