"""What a job's code may do while it runs (implemented by the worker; used by pipelines and handlers).

Handlers are ``async`` functions ``handler(ctx: JobContext) -> dict | None``; the returned mapping becomes the
task's output. They must be idempotent: a job whose runner died is run again from the start, and each step
checks what is already done.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

__all__ = ["Handler", "JobContext"]


class JobContext(Protocol):
    job_id: str
    hub_id: str
    action: str
    input: dict[str, Any]
    attempt: int
    cancel_reason: str | None
    """Why the job was cancelled, once it is; ``None`` while it runs, and when this process is stopping (the job
    will run again and may resume what it leaves)."""

    def step(self, caption: str, description: str = "") -> AbstractAsyncContextManager[None]:
        """Record a step on the job: started on entry, completed on normal exit."""
        ...

    async def progress(self, *, flush: bool = False, **values: Any) -> None:
        """Report progress (``bytes_done``, ``bytes_total``, …); written to the job at most a few times a second,
        or at once with ``flush``."""
        ...

    async def run_sync(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run blocking code (database work) off the event loop."""
        ...


Handler = Callable[[JobContext], Awaitable[dict[str, Any] | None]]
