"""What ``/v2`` serves, looked up in the store of record: repositories, tags, manifests and blobs of live images.

A repository is ``<hub>/<source>``: the hub part is the caller's hub (its ID or identifier), the source part a
source of that hub (its ID tried first, then its identifier; of several live sources with that identifier the
newest the caller may view). Everything else -- another hub's sources, sources the caller's role may not view
under their ACL, sources that are not live, sources without a single live image -- is *unknown*: the lookups
raise the same :class:`~imgsrc.errors.NotFoundError` for all of them, so that nobody can tell a foreign
repository from an absent one.

Tags are the IDs of the source's live images, and ``latest`` names the newest of them (by creation, the rule
prune uses to keep a source's newest live image). A blob is served only when a live image of *that repository*
references it, so a hub can never read content that only another hub's images reference, even knowing its
digest.

Functions take an open session and never commit; the HTTP layer (``imgsrc.api.v2``) calls them in a thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from imgsrc.errors import NotFoundError
from imgsrc.hubs.access import Principal
from imgsrc.hubs.models import HubRow
from imgsrc.ids import is_id
from imgsrc.images.models import ImageBlobRow, ImageRow
from imgsrc.sources.models import SourceRow
from imgsrc.sources.service import visible_to
from imgsrc.store import FilesystemBlobStore
from imgsrc.store.external import ExternalRegistry

__all__ = [
    "LATEST",
    "BlobLocation",
    "ManifestRef",
    "Repository",
    "find_manifest",
    "list_tags",
    "locate_blob",
    "resolve_repository",
]

log = logging.getLogger(__name__)

LATEST = "latest"
"""The tag naming a source's newest live image."""

REPOSITORY_UNKNOWN = "404.image.source"
MANIFEST_UNKNOWN = "404.image"
BLOB_UNKNOWN = "404.image.blob"

_DOCUMENT_KINDS = ("index", "manifest")


@dataclass(frozen=True)
class Repository:
    """A repository the caller may pull from: ``name`` as the client spelled it, and what it resolved to."""

    name: str
    hub_id: str
    source_id: str


@dataclass(frozen=True)
class ManifestRef:
    """The manifest a reference resolved to: its digest (the store key) and the media type it was stored with."""

    digest: str
    media_type: str
    image_id: str


@dataclass(frozen=True)
class BlobLocation:
    """Where the bytes of a blob the repository references are.

    Exactly one of ``path`` (the local content store: read it, never write it) and ``remote_repository`` (the
    repository of the external registry holding it, for images kept there) is set. ``size`` is the size the
    image recorded for the blob.
    """

    digest: str
    size: int
    path: Path | None = None
    remote_repository: str | None = None


def _unknown_repository() -> NotFoundError:
    return NotFoundError("repository name not known to registry", code=REPOSITORY_UNKNOWN)


def _live_images(repository: Repository) -> ColumnElement[bool]:
    return and_(
        ImageRow.hub_id == repository.hub_id,
        ImageRow.source_id == repository.source_id,
        ImageRow.state == "live",
    )


def resolve_repository(session: Session, principal: Principal, name: str) -> Repository:
    """The repository ``<hub>/<source>`` as the caller sees it, or ``NotFoundError`` (``404.image.source``)
    for anything the caller cannot pull from. The caller's capabilities are the HTTP layer's concern."""
    hub_ref, _, source_ref = name.partition("/")
    if not hub_ref or not source_ref or "/" in source_ref:
        raise _unknown_repository()
    if hub_ref != principal.hub_id:
        hub = session.get(HubRow, principal.hub_id)
        if hub is None or hub.identifier != hub_ref:
            raise _unknown_repository()
    source = _find_source(session, principal, source_ref)
    if source is None:
        raise _unknown_repository()
    repository = Repository(name=name, hub_id=principal.hub_id, source_id=source.id)
    if session.scalar(select(ImageRow.id).where(_live_images(repository)).limit(1)) is None:
        raise _unknown_repository()
    return repository


def _find_source(session: Session, principal: Principal, ref: str) -> SourceRow | None:
    """A live source of the caller's hub that the caller may view: by ID first, then by identifier."""
    if is_id(ref):
        row = session.get(SourceRow, ref)
        if (
            row is not None
            and row.hub_id == principal.hub_id
            and row.state == "live"
            and principal.acl_allows(row.acl.get("roles") if row.acl else None, "view")
        ):
            return row
    query = select(SourceRow).where(
        SourceRow.hub_id == principal.hub_id, SourceRow.identifier == ref, SourceRow.state == "live"
    )
    query = visible_to(query, principal, SourceRow.id)
    return session.scalar(query.order_by(SourceRow.created_at.desc(), SourceRow.id.desc()).limit(1))


def list_tags(session: Session, repository: Repository) -> list[str]:
    """Every tag of the repository in ASCII order (the order the distribution spec requires): the IDs of its
    live images, and ``latest`` when there is at least one."""
    ids = list(session.scalars(select(ImageRow.id).where(_live_images(repository))))
    if ids:
        ids.append(LATEST)
    return sorted(ids)


def find_manifest(session: Session, repository: Repository, reference: str) -> ManifestRef:
    """The manifest (or index) of a live image of the repository named by ``reference``: ``latest``, an image ID,
    or a digest (``sha256:<hex>``, already validated by the caller). ``NotFoundError`` (``404.image``) otherwise.

    A tag names the image's top document: the index when the import kept it whole
    (``IMGSRC_IMPORT_ALL_PLATFORMS``), else the manifest of the platform it chose. A digest names any manifest or
    index a live image of the repository holds, so clients that resolved a platform from an index fetch it
    by digest."""
    if reference.startswith("sha256:"):
        found = session.execute(
            select(ImageBlobRow.media_type, ImageRow.id)
            .join(ImageRow, ImageRow.id == ImageBlobRow.image_id)
            .where(_live_images(repository), ImageBlobRow.digest == reference)
            .where(ImageBlobRow.kind.in_(_DOCUMENT_KINDS))
            .order_by(ImageRow.created_at.desc())
            .limit(1)
        ).first()
        if found is None:
            raise NotFoundError("manifest unknown to registry", code=MANIFEST_UNKNOWN)
        return ManifestRef(digest=reference, media_type=found[0], image_id=found[1])
    query = select(ImageRow).where(_live_images(repository))
    if reference == LATEST:
        query = query.order_by(ImageRow.created_at.desc(), ImageRow.id.desc())
    elif is_id(reference):
        query = query.where(ImageRow.id == reference)
    else:
        raise NotFoundError("manifest unknown to registry", code=MANIFEST_UNKNOWN)
    row = session.scalar(query.limit(1))
    if row is None or not row.manifest_digest or not row.manifest_media_type:
        raise NotFoundError("manifest unknown to registry", code=MANIFEST_UNKNOWN)
    index = session.execute(
        select(ImageBlobRow.digest, ImageBlobRow.media_type).where(
            ImageBlobRow.image_id == row.id, ImageBlobRow.kind == "index"
        )
    ).first()
    if index is not None:
        return ManifestRef(digest=index[0], media_type=index[1], image_id=row.id)
    return ManifestRef(digest=row.manifest_digest, media_type=row.manifest_media_type, image_id=row.id)


def locate_blob(session: Session, store: FilesystemBlobStore, repository: Repository, digest: str) -> BlobLocation:
    """Where to read ``digest`` (``sha256:<hex>``, validated by the caller) from, provided a live image of the
    repository references it (as its manifest, config or a layer); ``NotFoundError`` (``404.image.blob``)
    otherwise.

    This is the one place that decides where blob bytes come from: the local content store, or -- for images
    kept in an external registry (``IMGSRC_STORAGE=registry``), whose layers are not stored locally -- that
    registry's repository.
    """
    found = session.execute(
        select(ImageBlobRow.size, ImageRow.backend_provider, ImageRow.backend_file_name)
        .join(ImageRow, ImageRow.id == ImageBlobRow.image_id)
        .where(ImageBlobRow.digest == digest, _live_images(repository))
        .order_by(ImageRow.created_at.desc())
        .limit(1)
    ).first()
    if found is None:
        raise NotFoundError("blob unknown to registry", code=BLOB_UNKNOWN)
    size, provider, file_name = found
    stored = store.size(digest)
    if stored is not None:
        return BlobLocation(digest=digest, size=stored, path=store.path(digest))
    if provider == ExternalRegistry.provider and file_name:
        return BlobLocation(digest=digest, size=size, remote_repository=ExternalRegistry.repository_of(file_name))
    log.warning("blob %s of a live image in %s is missing from the store", digest, repository.name)
    raise NotFoundError("blob unknown to registry", code=BLOB_UNKNOWN)
