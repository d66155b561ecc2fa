"""Use cases of images on the API side: create, read, list, rename, delete, import, prune, build log."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from imgsrc.errors import InvalidArgumentError, InvalidStateError, NotFoundError
from imgsrc.hubs.access import Principal
from imgsrc.ids import is_id, new_id
from imgsrc.images.models import BuildLogRow, ImageRow
from imgsrc.images.schemas import (
    BuildLog,
    CreateImageRequest,
    Image,
    ImageAbout,
    ImageBackend,
    ImageBuild,
    ImageBuilder,
    ImageConfig,
    ImageFactory,
    ImageOverride,
    ImageRequires,
    ImageSourceRef,
    ImageSourceRefDetails,
    ImageState,
)
from imgsrc.jobs.models import JobRow
from imgsrc.jobs.service import cancel_import, create_job
from imgsrc.listing import ListQuery
from imgsrc.queries import filter_states, page_of, search
from imgsrc.sources.models import SourceRow
from imgsrc.sources.origins import CycleUploadDetails, CycleUploadOrigin
from imgsrc.sources.service import find_source, source_origin_with_secrets, visible_to, wire_origin
from imgsrc.vault import Vault
from imgsrc.wire import ZERO_TIME, CreatorScope, Events, StateError, stamp, utcnow

__all__ = [
    "IMAGE_FILTERS",
    "IMAGE_SORT_KEYS",
    "build_log",
    "create_image",
    "find_image",
    "image_wire",
    "list_images",
    "rename_image",
    "request_delete",
    "request_import",
    "request_prune",
]

IMAGE_FILTERS = {"identifier": True, "search": False, "state": True, "source_id": True, "source_type": True}
IMAGE_SORT_KEYS = {
    "id": ImageRow.id,
    "name": ImageRow.name,
    "state": ImageRow.state,
    "size": ImageRow.size,
    "created": ImageRow.created_at,
    "updated": ImageRow.updated_at,
}
IMAGE_STATES = ("new", "uploading", "downloading", "building", "verifying", "saving", "live", "deleting", "deleted")
IMPORTABLE = ("docker-hub", "docker-registry", "oci-registry", "docker-file")
_UNFINISHED_JOB = ("new", "queued", "scheduled", "running")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def image_wire(row: ImageRow, *, upload_token: str | None = None) -> Image:
    """The wire form of an image. The upload token is shown only in the answer that created it."""
    origin = wire_origin(row.origin)
    if isinstance(origin, CycleUploadOrigin):
        token = upload_token if upload_token is not None else ("********" if row.upload_token_hash else "")
        origin = CycleUploadOrigin(
            type="cycle-upload", details=CycleUploadDetails(token=token, expires=stamp(row.upload_expires))
        )
    error = StateError(message=row.error_message, time=stamp(row.error_time)) if row.error_message else None
    live = row.backend_provider is not None
    source_details = ImageSourceRefDetails(id=row.source_id, origin=origin)
    if row.source_type == "stack-build":
        source_details = ImageSourceRefDetails(id=row.source_id, origin=origin, stack_id="", containers=[])
    return Image(
        id=row.id,
        hub_id=row.hub_id,
        name=row.name,
        size=row.size,
        about=ImageAbout(description=row.description),
        backend=ImageBackend(
            provider=row.backend_provider or "",
            size=row.size if live else 0,
            file_name=row.backend_file_name or "",
            file_id=row.manifest_digest if live and row.manifest_digest else "",
        ),
        requires=ImageRequires(nvidia_gpu=row.requires_gpu),
        build=ImageBuild.model_validate(row.build) if row.build is not None else None,
        builder=ImageBuilder(integration_id=row.builder_integration_id) if row.builder_integration_id else None,
        config=ImageConfig.model_validate(row.config) if row.config else ImageConfig(),
        source=ImageSourceRef(
            type=row.source_type,
            details=source_details,
            override=ImageOverride.model_validate(row.override) if row.override else ImageOverride(),
        ),
        creator=CreatorScope(id=row.creator_id, type=row.creator_type),
        factory=ImageFactory(
            node_id=row.factory_node or "",
            cached=stamp(row.factory_cached),
            acknowledged=stamp(row.factory_acknowledged),
        )
        if row.factory_node
        else None,
        state=ImageState(current=row.state, changed=stamp(row.state_changed), error=error),
        events=Events(created=stamp(row.created_at), updated=stamp(row.updated_at), deleted=stamp(row.deleted_at)),
        meta={},
    )


# --- reading -------------------------------------------------------------------------------------------------------


def find_image(session: Session, principal: Principal, image_id: str, *, for_update: bool = False) -> ImageRow:
    """An image of the caller's hub that the caller may see (404 otherwise). ``for_update`` refuses images
    being deleted (403 invalid-state)."""
    row = session.get(ImageRow, image_id) if is_id(image_id) else None
    if row is None or row.hub_id != principal.hub_id:
        raise NotFoundError("image not found", code="404.image")
    visible = visible_to(select(ImageRow.id).where(ImageRow.id == row.id), principal, ImageRow.source_id)
    if not principal.is_all and session.scalar(visible) is None:
        raise NotFoundError("image not found", code="404.image")
    if for_update and row.state in ("deleting", "deleted"):
        raise InvalidStateError(f"the image is {row.state}")
    return row


def list_images(session: Session, principal: Principal, query: ListQuery) -> tuple[list[ImageRow], int]:
    principal.require("images-view")
    stmt = visible_to(select(ImageRow).where(ImageRow.hub_id == principal.hub_id), principal, ImageRow.source_id)
    stmt = filter_states(stmt, ImageRow.state, query, IMAGE_STATES)
    if query.filters.get("source_id"):
        stmt = stmt.where(ImageRow.source_id.in_(query.filters["source_id"]))
    if query.filters.get("source_type"):
        stmt = stmt.where(ImageRow.origin_type.in_(query.filters["source_type"]))
    if query.filters.get("identifier") or query.first("search"):
        stmt = stmt.join(SourceRow, SourceRow.id == ImageRow.source_id)
    if query.filters.get("identifier"):
        stmt = stmt.where(SourceRow.identifier.in_(query.filters["identifier"]))
    columns = (ImageRow.name, ImageRow.description, ImageRow.reference, SourceRow.name, SourceRow.identifier)
    return page_of(session, search(stmt, query, columns), query, IMAGE_SORT_KEYS, ImageRow.id)


def build_log(session: Session, principal: Principal, image_id: str) -> BuildLog:
    principal.require("images-view")
    row = find_image(session, principal, image_id)
    log = session.get(BuildLogRow, row.id)
    if log is None:
        raise NotFoundError("no import or build has started for this image", code="404.image.build-log")
    return BuildLog(
        id=log.id,
        hub_id=log.hub_id,
        image_id=log.image_id,
        log=log.log,
        events=Events(created=stamp(log.created_at), updated=stamp(log.updated_at), deleted=ZERO_TIME),
    )


# --- changing ------------------------------------------------------------------------------------------------------


def create_image(
    session: Session, vault: Vault, principal: Principal, request: CreateImageRequest, *, upload_token_seconds: float
) -> tuple[ImageRow, str | None]:
    """A new image of a live source, in state ``new``. For a cycle-upload source it gets a one-time upload token
    (returned here, stored only as a hash)."""
    principal.require("images-manage")
    try:
        source = find_source(session, principal, request.source_id)
    except NotFoundError as exc:
        raise NotFoundError("image source not found", code="404.image.source", source="/source_id") from exc
    if source.state != "live":
        raise InvalidStateError(f"the source is {source.state}", source="/source_id")
    override = request.override
    if override is not None:
        if override.target is not None and source.origin_type not in ("docker-hub", "docker-registry", "oci-registry"):
            raise InvalidArgumentError("`override.target` applies to registry sources", source="/override/target")
        if override.targz_url is not None and source.origin_type != "docker-file":
            raise InvalidArgumentError(
                "`override.targz_url` applies to docker-file sources", source="/override/targz_url"
            )
    if request.build is not None and source.origin_type != "docker-file":
        raise InvalidArgumentError("`build` applies to docker-file sources", source="/build")
    now = utcnow()
    token: str | None = None
    row = ImageRow(
        id=new_id(),
        hub_id=principal.hub_id,
        source_id=source.id,
        source_type=source.type,
        origin_type=source.origin_type,
        name=request.name or source.name,
        description=None,
        origin=dict(source.origin),
        origin_secrets=source.origin_secrets,
        override=override.model_dump(exclude_none=True) if override else None,
        build=request.build.model_dump() if request.build else None,
        builder_integration_id=source.builder_integration_id,
        creator_id=principal.key_id,
        creator_type="api-key",
        state="new",
        state_changed=now,
        error_message=None,
        error_time=None,
        created_at=now,
        updated_at=now,
        deleted_at=None,
        size=0,
        requires_gpu=False,
        reference=(override.target if override and override.target else source.origin_target),
    )
    if source.origin_type == "cycle-upload":
        token = secrets.token_urlsafe(32)
        row.upload_token_hash = hash_token(token)
        row.upload_expires = now + timedelta(seconds=upload_token_seconds)
    session.add(row)
    session.flush()
    return row, token


def rename_image(session: Session, principal: Principal, image_id: str, name: str | None) -> ImageRow:
    principal.require("images-manage")
    row = find_image(session, principal, image_id, for_update=True)
    if name is not None:
        row.name = name
        row.updated_at = utcnow()
    return row


def _running_import(session: Session, row: ImageRow) -> JobRow | None:
    if row.import_job_id is None:
        return None
    job = session.get(JobRow, row.import_job_id)
    return job if job is not None and job.state in _UNFINISHED_JOB else None


def request_import(session: Session, vault: Vault, principal: Principal, image_id: str) -> JobRow:
    """Queue the import (or build) of an image in state ``new``."""
    principal.require("images-import")
    row = find_image(session, principal, image_id, for_update=True)
    if row.origin_type == "none":
        raise InvalidArgumentError("the image's source has no origin (`none`): there is nothing to import")
    if row.origin_type == "cycle-upload":
        raise InvalidArgumentError("images of cycle-upload sources are imported by uploading them (`/upload`)")
    if row.origin_type not in IMPORTABLE:
        raise InvalidArgumentError(f"images of `{row.origin_type}` sources cannot be imported")
    if _running_import(session, row) is not None:
        raise InvalidStateError("an import of this image is already under way")
    if row.state != "new":
        raise InvalidStateError(f"only a new image can be imported; this one is {row.state}")
    source = session.get_one(SourceRow, row.source_id)
    source_origin_with_secrets(session, vault, source)  # fail now, clearly, if `existing` no longer resolves
    job = create_job(
        session,
        principal,
        action="import",
        caption="Import image" if row.origin_type != "docker-file" else "Build image",
        header="image.import",
        input={"image_id": row.id},
    )
    row.import_job_id = job.id
    row.error_message, row.error_time = None, None
    row.updated_at = utcnow()
    return job


def request_delete(session: Session, principal: Principal, image_id: str) -> JobRow:
    """Mark the image ``deleting``, ask a running import to stop, and queue the deletion."""
    principal.require("images-manage")
    row = find_image(session, principal, image_id, for_update=True)
    now = utcnow()
    row.state, row.state_changed, row.updated_at = "deleting", now, now
    running = _running_import(session, row)
    if running is not None:
        cancel_import(session, running.id)
    return create_job(
        session, principal, action="delete", caption="Delete image", header="image.delete", input={"image_id": row.id}
    )


def request_prune(session: Session, principal: Principal, source_ids: list[str]) -> JobRow:
    principal.require("images-manage")
    resolved: list[str] = []
    for index, ref in enumerate(source_ids):
        try:
            resolved.append(find_source(session, principal, ref).id)
        except NotFoundError as exc:
            raise NotFoundError(
                "image source not found", code="404.image.source", source=f"/contents/source_ids/{index}"
            ) from exc
    return create_job(
        session,
        principal,
        action="prune",
        caption="Prune images",
        header="images.prune",
        input={"source_ids": sorted(set(resolved))},
    )
