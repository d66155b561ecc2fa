"""Use cases of jobs on the API side: create a job (and its descriptor), read jobs."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from imgsrc.errors import NotFoundError
from imgsrc.hubs.access import Principal
from imgsrc.ids import is_id, new_id
from imgsrc.jobs.lifecycle import task_state_for
from imgsrc.jobs.models import JobRow
from imgsrc.jobs.schemas import (
    Job,
    JobDescriptor,
    JobDescriptorJob,
    JobDescriptorParallel,
    JobDescriptorTask,
    JobError,
    JobEvents,
    JobState,
    JobStep,
    JobTask,
    TaskState,
)
from imgsrc.listing import ListQuery
from imgsrc.queries import filter_states
from imgsrc.wire import ZERO_TIME, CreatorScope, Timestamp, stamp, utcnow

__all__ = ["JOB_LIFETIME", "cancel_import", "create_job", "descriptor", "get_job", "job_wire", "list_jobs"]

JOB_LIFETIME = timedelta(days=7)
"""How long a queued job may wait before it expires, and how long finished jobs stay readable."""


def create_job(
    session: Session,
    principal: Principal,
    *,
    action: str,
    caption: str,
    header: str,
    input: dict[str, Any],
    queue: str = "images",
) -> JobRow:
    """A queued job. The caller enqueues its ID once the transaction has committed (see
    :func:`imgsrc.db.after_commit`), so a worker never looks for a row that is not there yet."""
    now = utcnow()
    digest = hashlib.sha256(json.dumps([action, input], sort_keys=True).encode()).hexdigest()
    row = JobRow(
        id=new_id(),
        hub_id=principal.hub_id,
        action=action,
        caption=caption,
        queue=queue,
        header=header,
        input=input,
        output=None,
        steps=[],
        progress=None,
        state="queued",
        state_changed=now,
        error_message=None,
        task_id=new_id(),
        task_state="pending",
        task_state_changed=now,
        creator_id=principal.key_id,
        creator_type="api-key",
        hash=digest,
        limit_duplicates=False,
        queued_at=now,
        schedule=now,
        expires=now + JOB_LIFETIME,
        started_at=None,
        completed_at=None,
        lease_owner=None,
        lease_expires=None,
        enqueued_at=now,
        attempts=0,
        cancel_requested=False,
    )
    session.add(row)
    session.flush()
    return row


def cancel_import(session: Session, job_id: str) -> None:
    """Stop a job because its resource is going away: a queued job ends at once (``error``: cancelled); a running
    one is asked to stop (its runner's heartbeat sees the request and cancels it)."""
    now = utcnow()
    session.execute(
        update(JobRow)
        .where(JobRow.id == job_id, JobRow.state.in_(("new", "queued", "scheduled")))
        .values(
            state="error",
            task_state="error",
            state_changed=now,
            task_state_changed=now,
            completed_at=now,
            error_message="cancelled: the image was deleted",
            cancel_requested=True,
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(JobRow)
        .where(JobRow.id == job_id, JobRow.state == "running")
        .values(cancel_requested=True)
        .execution_options(synchronize_session=False)
    )


def descriptor(row: JobRow) -> JobDescriptor:
    """The answer of the call that started the job."""
    return JobDescriptor(
        action=row.action,
        job=JobDescriptorJob(
            id=row.id,
            accepted=True,
            queue=row.queue,
            schedule=stamp(row.schedule),
            parallel=JobDescriptorParallel(tasks=False),
            tasks=[JobDescriptorTask(caption=row.caption, header=row.header, input=row.input)],
        ),
    )


def job_wire(row: JobRow) -> Job:
    events = JobEvents(queued=stamp(row.queued_at), started=stamp(row.started_at), completed=stamp(row.completed_at))
    error = JobError(message=row.error_message) if row.error_message and row.state == "error" else None
    output = {key: str(value) for key, value in (row.output or {}).items()}
    progress = {key: int(value) for key, value in (row.progress or {}).items() if isinstance(value, int | float)}
    output.update({key: str(value) for key, value in progress.items()})
    steps = [
        JobStep(
            caption=s["caption"],
            description=s.get("description", ""),
            started=Timestamp.parse(s["started"]) if s.get("started") else ZERO_TIME,
            completed=Timestamp.parse(s["completed"]) if s.get("completed") else ZERO_TIME,
        )
        for s in row.steps or []
    ]
    task = JobTask(
        id=row.task_id,
        caption=row.caption,
        header=row.header,
        events=events,
        steps=steps,
        state=TaskState(current=task_state_for(row.state), changed=stamp(row.task_state_changed)),
        error=error,
        input=row.input,
        output=output or None,
    )
    return Job(
        id=row.id,
        hub_id=row.hub_id,
        queue=row.queue,
        caption=row.caption,
        events=events,
        schedule=stamp(row.schedule),
        expires=stamp(row.expires),
        tasks=[task],
        hash=row.hash,
        limit_duplicates=row.limit_duplicates,
        creator=CreatorScope(id=row.creator_id, type=row.creator_type),
        state=JobState(current=row.state, changed=stamp(row.state_changed), error=error),
        progress=progress or None,
    )


def get_job(session: Session, principal: Principal, job_id: str) -> Job:
    row = session.get(JobRow, job_id) if is_id(job_id) else None
    if row is None or row.hub_id != principal.hub_id:
        raise NotFoundError("job not found", code="404.job")
    return job_wire(row)


JOB_STATES = ("new", "queued", "scheduled", "running", "completed", "error", "expired")


def list_jobs(session: Session, principal: Principal, query: ListQuery) -> tuple[list[Job], int]:
    """One page of the hub's jobs, newest first (``filter[state]`` narrows them), and the total matching."""
    stmt = filter_states(select(JobRow).where(JobRow.hub_id == principal.hub_id), JobRow.state, query, JOB_STATES)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    order = (JobRow.queued_at.desc(), JobRow.id.desc())
    rows = session.scalars(stmt.order_by(*order).offset(query.offset).limit(query.page_size))
    return [job_wire(r) for r in rows], total
