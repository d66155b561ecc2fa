"""Wire models of the Job resource and of the Job Descriptor returned by calls that start jobs."""

from __future__ import annotations

from typing import Any, Literal

from imgsrc.wire import CreatorScope, Timestamp, WireModel, omitted

__all__ = [
    "Job",
    "JobDescriptor",
    "JobDescriptorJob",
    "JobDescriptorParallel",
    "JobDescriptorTask",
    "JobError",
    "JobEvents",
    "JobState",
    "JobStateName",
    "JobStep",
    "JobTask",
    "TaskState",
    "TaskStateName",
]

JobStateName = Literal["new", "queued", "scheduled", "running", "completed", "error", "expired"]
TaskStateName = Literal["pending", "running", "completed", "error"]


class JobError(WireModel):
    message: str


class JobEvents(WireModel):
    queued: Timestamp
    started: Timestamp
    completed: Timestamp


class JobStep(WireModel):
    caption: str
    description: str
    started: Timestamp
    completed: Timestamp


class TaskState(WireModel):
    current: TaskStateName
    changed: Timestamp


class JobTask(WireModel):
    id: str
    caption: str
    header: str
    events: JobEvents
    steps: list[JobStep] | None
    state: TaskState
    error: JobError | None
    input: dict[str, Any]
    output: dict[str, str] | None


class JobState(WireModel):
    current: JobStateName
    changed: Timestamp
    error: JobError | None


class Job(WireModel):
    """A long operation. Clients poll it until ``completed``, ``error`` or ``expired``. While an import runs,
    ``progress`` (an extension of the published schema) carries ``bytes_done``, ``bytes_total`` and layer counts;
    the task's ``output`` (a map of strings, as published) carries the same figures and, at the end, the result."""

    id: str
    hub_id: str
    queue: str
    caption: str
    events: JobEvents
    schedule: Timestamp
    expires: Timestamp
    tasks: list[JobTask]
    hash: str
    limit_duplicates: bool
    creator: CreatorScope
    state: JobState
    progress: dict[str, int] | None = omitted()

    @property
    def finished(self) -> bool:
        return self.state.current in ("completed", "error", "expired")


class JobDescriptorParallel(WireModel):
    tasks: bool
    sub_queue: str | None = None


class JobDescriptorTask(WireModel):
    caption: str
    header: str
    input: dict[str, Any]
    steps: list[JobStep] | None = None


class JobDescriptorJob(WireModel):
    id: str
    accepted: bool
    queue: str
    schedule: Timestamp
    parallel: JobDescriptorParallel
    tasks: list[JobDescriptorTask] | None


class JobDescriptor(WireModel):
    """The answer of a call that started a job: the action and the job to follow."""

    action: str
    job: JobDescriptorJob | None = omitted()
