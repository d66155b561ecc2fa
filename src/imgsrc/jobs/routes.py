"""HTTP routes of jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from imgsrc.api.deps import CurrentPrincipal, RuntimeDep, list_query, list_query_doc
from imgsrc.api.responses import ERROR_RESPONSES, Envelope, respond
from imgsrc.jobs import service
from imgsrc.jobs.schemas import Job
from imgsrc.listing import ListQuery

__all__ = ["router"]

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=ERROR_RESPONSES)
_FILTERS = {"state": True}
_LIST = list_query(_FILTERS, ())


@router.get(
    "", summary="List the hub's jobs", response_model=Envelope[list[Job]], openapi_extra=list_query_doc(_FILTERS, ())
)
def list_jobs(
    runtime: RuntimeDep, principal: CurrentPrincipal, query: Annotated[ListQuery, Depends(_LIST)]
) -> Response:
    with runtime.db.session() as session:
        jobs, total = service.list_jobs(session, principal, query)
    return respond(jobs, headers={"X-Total-Count": str(total)})


@router.get("/{job_id}", summary="Get a job", response_model=Envelope[Job])
def get_job(runtime: RuntimeDep, principal: CurrentPrincipal, job_id: Annotated[str, Path(max_length=64)]) -> Response:
    with runtime.db.session() as session:
        job = service.get_job(session, principal, job_id)
    return respond(job)
