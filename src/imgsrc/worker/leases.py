"""Job leases in the database: claim, heartbeat, finish, fail, release, recover.

Every transition is one conditional UPDATE, so any number of runners in any number of processes can race for
the same job and exactly one wins. A runner identifies itself as ``host:pid:random``; recovery takes back jobs
whose lease ran out, and at once those whose runner was a process of this host that no longer exists.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from imgsrc.db import Database
from imgsrc.jobs.models import JobRow
from imgsrc.wire import utcnow

__all__ = ["Claim", "Leases", "runner_identity"]

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
RESEND_AFTER = timedelta(seconds=60)


def runner_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_is_dead(owner: str | None) -> bool:
    """True when the owner was a process of this host that has exited (its lease need not be waited out)."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass(frozen=True)
class Claim:
    job_id: str
    hub_id: str
    action: str
    header: str
    input: dict[str, Any]
    attempt: int


class Leases:
    def __init__(self, db: Database, owner: str, lease: timedelta) -> None:
        self.db = db
        self.owner = owner
        self.lease = lease

    def claim(self, job_id: str) -> Claim | None:
        """Take a queued job; None if another runner has it or it is finished."""
        now = utcnow()
        with self.db.session() as session:
            result = session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.state.in_(("new", "queued", "scheduled")))
                .values(
                    state="running",
                    state_changed=now,
                    task_state="running",
                    task_state_changed=now,
                    lease_owner=self.owner,
                    lease_expires=now + self.lease,
                    attempts=JobRow.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return None
            row = session.get_one(JobRow, job_id)
            if row.started_at is None:
                row.started_at = now
            return Claim(
                job_id=row.id,
                hub_id=row.hub_id,
                action=row.action,
                header=row.header,
                input=dict(row.input),
                attempt=row.attempts,
            )

    def heartbeat(self, job_id: str) -> tuple[bool, bool]:
        """Extend the lease. Returns (still ours, cancellation requested)."""
        now = utcnow()
        with self.db.session() as session:
            result = session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.lease_owner == self.owner, JobRow.state == "running")
                .values(lease_expires=now + self.lease)
                .execution_options(synchronize_session=False)
            )
            ours = result.rowcount == 1  # type: ignore[attr-defined]
            cancel = bool(session.scalar(select(JobRow.cancel_requested).where(JobRow.id == job_id)))
        return ours, cancel

    def _finish(self, session: Session, job_id: str, **values: Any) -> bool:
        now = utcnow()
        result = session.execute(
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.lease_owner == self.owner, JobRow.state == "running")
            .values(
                state_changed=now,
                task_state_changed=now,
                completed_at=now,
                lease_owner=None,
                lease_expires=None,
                **values,
            )
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]

    def complete(self, session: Session, job_id: str, output: dict[str, Any] | None) -> bool:
        """Mark the job completed (in the caller's transaction, so the handler's last writes commit with it)."""
        return self._finish(session, job_id, state="completed", task_state="completed", output=output)

    def fail(self, job_id: str, message: str) -> None:
        with self.db.session() as session:
            self._finish(session, job_id, state="error", task_state="error", error_message=message[:4000])

    def release(self, job_id: str) -> None:
        """Give a running job back to the queue (shutdown): it will be run again, from the start."""
        now = utcnow()
        with self.db.session() as session:
            session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.lease_owner == self.owner, JobRow.state == "running")
                .values(
                    state="queued",
                    state_changed=now,
                    task_state="pending",
                    task_state_changed=now,
                    lease_owner=None,
                    lease_expires=None,
                    enqueued_at=None,
                )
                .execution_options(synchronize_session=False)
            )

    def record_progress(
        self, job_id: str, *, steps: list[dict[str, Any]] | None = None, progress: dict[str, Any] | None = None
    ) -> None:
        values: dict[str, Any] = {}
        if steps is not None:
            values["steps"] = steps
        if progress is not None:
            values["progress"] = progress
        if not values:
            return
        with self.db.session() as session:
            session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.lease_owner == self.owner)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    def recover(self) -> list[str]:
        """Jobs that need (re)sending to the queue: runners that died are relieved of their jobs (after
        ``MAX_ATTEMPTS`` the job fails for good), queued jobs whose message may be lost are sent again, and jobs
        that waited past their expiry expire. Returns the IDs to enqueue."""
        now = utcnow()
        resend: list[str] = []
        with self.db.session() as session:
            running = session.execute(
                select(JobRow.id, JobRow.lease_owner, JobRow.lease_expires, JobRow.attempts).where(
                    JobRow.state == "running"
                )
            ).all()
            for job_id, owner, expires, attempts in running:
                if not ((expires is not None and expires < now) or _owner_is_dead(owner)):
                    continue
                if attempts >= MAX_ATTEMPTS:
                    session.execute(
                        update(JobRow)
                        .where(JobRow.id == job_id, JobRow.state == "running", JobRow.lease_owner == owner)
                        .values(
                            state="error",
                            task_state="error",
                            state_changed=now,
                            task_state_changed=now,
                            completed_at=now,
                            lease_owner=None,
                            lease_expires=None,
                            error_message=f"gave up after {attempts} attempts: the workers running it stopped",
                        )
                        .execution_options(synchronize_session=False)
                    )
                    continue
                result = session.execute(
                    update(JobRow)
                    .where(JobRow.id == job_id, JobRow.state == "running", JobRow.lease_owner == owner)
                    .values(
                        state="queued",
                        task_state="pending",
                        state_changed=now,
                        task_state_changed=now,
                        lease_owner=None,
                        lease_expires=None,
                        enqueued_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    log.warning("job %s: its runner stopped; queued again", job_id)
                    resend.append(job_id)
            session.execute(
                update(JobRow)
                .where(JobRow.state.in_(("new", "queued", "scheduled")), JobRow.expires < now)
                .values(state="expired", task_state="error", state_changed=now, task_state_changed=now)
                .execution_options(synchronize_session=False)
            )
            stale = session.scalars(
                select(JobRow.id).where(
                    JobRow.state == "queued",
                    or_(JobRow.enqueued_at.is_(None), JobRow.enqueued_at < now - RESEND_AFTER),
                )
            ).all()
            if stale:
                session.execute(
                    update(JobRow)
                    .where(JobRow.id.in_(stale))
                    .values(enqueued_at=now)
                    .execution_options(synchronize_session=False)
                )
            resend.extend(stale)
        return resend
