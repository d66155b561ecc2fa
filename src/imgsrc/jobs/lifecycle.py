"""The job state machine (pure).

::

    queued ──claim──▶ running ──finish──▶ completed
      │  ▲               │ │
      │  └───release─────┘ └──fail──▶ error
      ├──cancel──▶ error
      └──expire──▶ expired

``release`` is what recovery does when a runner died (its lease ran out): the job goes back to ``queued`` and is
run again; every step is idempotent, so a re-run finishes what the dead runner started. ``new`` and ``scheduled``
exist in the wire format but this server queues jobs at creation.
"""

from __future__ import annotations

from typing import Literal

from imgsrc.errors import InvalidStateError
from imgsrc.jobs.schemas import JobStateName, TaskStateName

__all__ = ["FINAL_STATES", "JobEvent", "task_state_for", "transition"]

JobEvent = Literal["claim", "finish", "fail", "release", "cancel", "expire"]
FINAL_STATES: frozenset[str] = frozenset({"completed", "error", "expired"})

_TRANSITIONS: dict[tuple[str, str], JobStateName] = {
    ("new", "claim"): "running",
    ("queued", "claim"): "running",
    ("scheduled", "claim"): "running",
    ("running", "finish"): "completed",
    ("running", "fail"): "error",
    ("running", "release"): "queued",
    ("new", "cancel"): "error",
    ("queued", "cancel"): "error",
    ("scheduled", "cancel"): "error",
    ("running", "cancel"): "error",
    ("new", "expire"): "expired",
    ("queued", "expire"): "expired",
    ("scheduled", "expire"): "expired",
}


def transition(current: str, event: JobEvent) -> JobStateName:
    """The state after ``event``; :class:`InvalidStateError` when the event makes no sense in ``current``
    (a finished job never changes again)."""
    try:
        return _TRANSITIONS[(current, event)]
    except KeyError:
        raise InvalidStateError(f"a {current} job cannot {event}") from None


def task_state_for(job_state: str) -> TaskStateName:
    """The state of a job's (single) task, derived from the job's."""
    if job_state == "running":
        return "running"
    if job_state == "completed":
        return "completed"
    if job_state in ("error", "expired"):
        return "error"
    return "pending"
