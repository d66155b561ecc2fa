"""HTTP routes of image sources (thin: parse, call the service, answer)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from imgsrc.api.deps import CurrentPrincipal, RuntimeDep, list_query, list_query_doc
from imgsrc.api.responses import ERROR_RESPONSES, Envelope, respond
from imgsrc.jobs.schemas import JobDescriptor
from imgsrc.jobs.service import descriptor
from imgsrc.listing import ListQuery
from imgsrc.sources import service
from imgsrc.sources.counts import images_count_by_source
from imgsrc.sources.schemas import (
    CreateImageSourceRequest,
    ImageSource,
    UpdateImageSourceAccessRequest,
    UpdateImageSourceRequest,
)

__all__ = ["router"]

router = APIRouter(prefix="/v1/images/sources", tags=["image sources"], responses=ERROR_RESPONSES)

_INCLUDES = ("creators", "integrations")
_METAS = ("images_count",)
_LIST = list_query(service.SOURCE_FILTERS, service.SOURCE_SORT_KEYS, _INCLUDES, _METAS)
_ONE = list_query({}, (), _INCLUDES, _METAS)
SourceRef = Annotated[str, Path(description="The source's ID or identifier.", max_length=256)]


def _answer(
    runtime: Any, session: Any, rows: list[Any], query: ListQuery
) -> tuple[list[ImageSource], dict[str, Any] | None]:
    counts = images_count_by_source(session, [r.id for r in rows]) if "images_count" in query.meta else {}
    data = [service.source_wire(r, images_count=counts.get(r.id)) for r in rows]
    includes: dict[str, Any] | None = None
    if query.include:
        includes = {}
        if "creators" in query.include:
            includes["creators"] = service.creators_include(session, rows)
        if "integrations" in query.include:
            includes["integrations"] = {}
    return data, includes


@router.get(
    "",
    summary="List image sources",
    response_model=Envelope[list[ImageSource]],
    openapi_extra=list_query_doc(service.SOURCE_FILTERS, service.SOURCE_SORT_KEYS, _INCLUDES, _METAS),
)
def list_sources(
    runtime: RuntimeDep, principal: CurrentPrincipal, query: Annotated[ListQuery, Depends(_LIST)]
) -> Response:
    with runtime.db.session() as session:
        rows, total = service.list_sources(session, principal, query)
        data, includes = _answer(runtime, session, rows, query)
    return respond(data, includes=includes, headers={"X-Total-Count": str(total)})


@router.post("", status_code=201, summary="Create an image source", response_model=Envelope[ImageSource])
def create_source(runtime: RuntimeDep, principal: CurrentPrincipal, body: CreateImageSourceRequest) -> Response:
    with runtime.db.session() as session:
        row = service.create_source(session, runtime.vault, principal, body)
        answer = service.source_wire(row)
    return respond(answer, status=201)


@router.get(
    "/{source_id}",
    summary="Get an image source",
    response_model=Envelope[ImageSource],
    openapi_extra=list_query_doc({}, (), _INCLUDES, _METAS),
)
def get_source(
    runtime: RuntimeDep,
    principal: CurrentPrincipal,
    source_id: SourceRef,
    query: Annotated[ListQuery, Depends(_ONE)],
) -> Response:
    principal.require("images-sources-view")
    with runtime.db.session() as session:
        row = service.find_source(session, principal, source_id)
        data, includes = _answer(runtime, session, [row], query)
    return respond(data[0], includes=includes)


@router.patch("/{source_id}", summary="Update an image source", response_model=Envelope[ImageSource])
def update_source(
    runtime: RuntimeDep, principal: CurrentPrincipal, source_id: SourceRef, body: UpdateImageSourceRequest
) -> Response:
    with runtime.db.session() as session:
        row = service.update_source(session, runtime.vault, principal, source_id, body)
        answer = service.source_wire(row)
    return respond(answer)


@router.patch("/{source_id}/access", summary="Change the ACL of an image source", response_model=Envelope[ImageSource])
def update_access(
    runtime: RuntimeDep, principal: CurrentPrincipal, source_id: SourceRef, body: UpdateImageSourceAccessRequest
) -> Response:
    with runtime.db.session() as session:
        row = service.update_access(session, principal, source_id, body)
        answer = service.source_wire(row)
    return respond(answer)


@router.delete(
    "/{source_id}", status_code=202, summary="Delete an image source (a job)", response_model=Envelope[JobDescriptor]
)
def delete_source(runtime: RuntimeDep, principal: CurrentPrincipal, source_id: SourceRef) -> Response:
    with runtime.db.session() as session:
        job = service.request_delete(session, principal, source_id)
        answer = descriptor(job)
        runtime.enqueue_after_commit(session, job.id)
    return respond(answer, status=202)
