"""HTTP routes of images (thin: parse, call the service, answer)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from imgsrc.api.deps import CurrentPrincipal, RuntimeDep, list_query, list_query_doc
from imgsrc.api.responses import ERROR_RESPONSES, Envelope, respond
from imgsrc.images import service
from imgsrc.images.models import ImageRow
from imgsrc.images.schemas import (
    BuildLog,
    CreateImageRequest,
    CreateImagesJobRequest,
    Image,
    ImageTaskRequest,
    UpdateImageRequest,
)
from imgsrc.jobs.schemas import JobDescriptor
from imgsrc.jobs.service import descriptor
from imgsrc.listing import ListQuery
from imgsrc.sources.models import SourceRow
from imgsrc.sources.service import creators_include, source_wire

__all__ = ["router"]

router = APIRouter(prefix="/v1/images", tags=["images"], responses=ERROR_RESPONSES)

_INCLUDES = ("creators", "sources")
_LIST = list_query(service.IMAGE_FILTERS, service.IMAGE_SORT_KEYS, _INCLUDES)
_ONE = list_query({}, (), _INCLUDES)
ImageId = Annotated[str, Path(max_length=64)]


def _includes(session: Session, rows: list[ImageRow], query: ListQuery) -> dict[str, Any] | None:
    if not query.include:
        return None
    includes: dict[str, Any] = {}
    if "creators" in query.include:
        includes["creators"] = creators_include(session, rows)
    if "sources" in query.include:
        ids = {r.source_id for r in rows}
        sources: list[SourceRow] = list(session.scalars(select(SourceRow).where(SourceRow.id.in_(ids)))) if ids else []
        includes["sources"] = {s.id: source_wire(s, with_meta=False).model_dump(mode="json") for s in sources}
    return includes


@router.get(
    "",
    summary="List images",
    response_model=Envelope[list[Image]],
    openapi_extra=list_query_doc(service.IMAGE_FILTERS, service.IMAGE_SORT_KEYS, _INCLUDES),
)
def list_images(
    runtime: RuntimeDep, principal: CurrentPrincipal, query: Annotated[ListQuery, Depends(_LIST)]
) -> Response:
    with runtime.db.session() as session:
        rows, total = service.list_images(session, principal, query)
        data = [service.image_wire(r) for r in rows]
        includes = _includes(session, rows, query)
    return respond(data, includes=includes, headers={"X-Total-Count": str(total)})


@router.post("", status_code=201, summary="Create an image (state `new`)", response_model=Envelope[Image])
def create_image(runtime: RuntimeDep, principal: CurrentPrincipal, body: CreateImageRequest) -> Response:
    with runtime.db.session() as session:
        row, token = service.create_image(
            session, runtime.vault, principal, body, upload_token_seconds=runtime.settings.upload_token_seconds
        )
        answer = service.image_wire(row, upload_token=token)
    return respond(answer, status=201)


@router.post(
    "/tasks", status_code=202, summary="Start a job on several images (prune)", response_model=Envelope[JobDescriptor]
)
def images_job(runtime: RuntimeDep, principal: CurrentPrincipal, body: CreateImagesJobRequest) -> Response:
    with runtime.db.session() as session:
        job = service.request_prune(session, principal, body.contents.source_ids)
        answer = descriptor(job)
        runtime.enqueue_after_commit(session, job.id)
    return respond(answer, status=202)


@router.get(
    "/{image_id}",
    summary="Get an image",
    response_model=Envelope[Image],
    openapi_extra=list_query_doc({}, (), _INCLUDES),
)
def get_image(
    runtime: RuntimeDep, principal: CurrentPrincipal, image_id: ImageId, query: Annotated[ListQuery, Depends(_ONE)]
) -> Response:
    principal.require("images-view")
    with runtime.db.session() as session:
        row = service.find_image(session, principal, image_id)
        answer = service.image_wire(row)
        includes = _includes(session, [row], query)
    return respond(answer, includes=includes)


@router.patch("/{image_id}", summary="Rename an image", response_model=Envelope[Image])
def rename_image(
    runtime: RuntimeDep, principal: CurrentPrincipal, image_id: ImageId, body: UpdateImageRequest
) -> Response:
    with runtime.db.session() as session:
        row = service.rename_image(session, principal, image_id, body.name)
        answer = service.image_wire(row)
    return respond(answer)


@router.delete("/{image_id}", summary="Delete an image (a job)", response_model=Envelope[JobDescriptor])
def delete_image(runtime: RuntimeDep, principal: CurrentPrincipal, image_id: ImageId) -> Response:
    with runtime.db.session() as session:
        job = service.request_delete(session, principal, image_id)
        answer = descriptor(job)
        runtime.enqueue_after_commit(session, job.id)
    return respond(answer)


@router.get("/{image_id}/build-log", summary="The image's build log", response_model=Envelope[BuildLog])
def build_log(runtime: RuntimeDep, principal: CurrentPrincipal, image_id: ImageId) -> Response:
    with runtime.db.session() as session:
        answer = service.build_log(session, principal, image_id)
    return respond(answer)


@router.post("/{image_id}/tasks", summary="Start a job on an image (import)", response_model=Envelope[JobDescriptor])
def image_job(runtime: RuntimeDep, principal: CurrentPrincipal, image_id: ImageId, body: ImageTaskRequest) -> Response:
    with runtime.db.session() as session:
        job = service.request_import(session, runtime.vault, principal, image_id)
        answer = descriptor(job)
        runtime.enqueue_after_commit(session, job.id)
    return respond(answer)
