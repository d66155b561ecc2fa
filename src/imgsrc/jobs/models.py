"""Tables of the jobs domain. A job row is the truth about a job: its state, its lease and its progress; the queue
only carries "run job X" (see docs/architecture.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from imgsrc.db import Base, JSONType


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_hub_queued", "hub_id", "queued_at"),
        Index("ix_jobs_state_lease", "state", "lease_expires"),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    hub_id: Mapped[str] = mapped_column(ForeignKey("hubs.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(32))
    caption: Mapped[str] = mapped_column(String(256))
    queue: Mapped[str] = mapped_column(String(64))
    header: Mapped[str] = mapped_column(String(64))
    input: Mapped[dict[str, Any]] = mapped_column(JSONType)
    output: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    steps: Mapped[list[Any]] = mapped_column(JSONType)  # [{caption, description, started, completed}]
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # {"bytes_done", "bytes_total", ...}
    state: Mapped[str] = mapped_column(String(16))
    state_changed: Mapped[datetime]
    error_message: Mapped[str | None] = mapped_column(Text)
    task_id: Mapped[str] = mapped_column(String(24))
    task_state: Mapped[str] = mapped_column(String(16))
    task_state_changed: Mapped[datetime]
    creator_id: Mapped[str] = mapped_column(String(24))
    creator_type: Mapped[str] = mapped_column(String(32))
    hash: Mapped[str] = mapped_column(String(64))
    limit_duplicates: Mapped[bool] = mapped_column(Boolean, default=False)
    queued_at: Mapped[datetime]
    schedule: Mapped[datetime]
    expires: Mapped[datetime]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    # --- execution bookkeeping (never on the wire) ---
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires: Mapped[datetime | None]
    enqueued_at: Mapped[datetime | None]  # last time a message was sent for it (recovery re-sends stale ones)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
