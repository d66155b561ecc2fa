"""Tables of the image sources domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from imgsrc.db import Base, JSONType


class SourceRow(Base):
    """An image source. ``origin`` holds the origin document with every secret replaced by the mask;
    ``origin_secrets`` the secrets themselves, sealed by the vault (pointer → value)."""

    __tablename__ = "image_sources"
    __table_args__ = (Index("ix_image_sources_hub_state", "hub_id", "state"),)

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    hub_id: Mapped[str] = mapped_column(ForeignKey("hubs.id", ondelete="CASCADE"))
    identifier: Mapped[str] = mapped_column(String(256), index=True)
    name: Mapped[str] = mapped_column(String(256))
    type: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    origin_type: Mapped[str] = mapped_column(String(32))
    origin_target: Mapped[str | None] = mapped_column(String(1024))  # for filter[search]
    origin: Mapped[dict[str, Any]] = mapped_column(JSONType)
    origin_secrets: Mapped[str | None] = mapped_column(Text)
    builder_integration_id: Mapped[str | None] = mapped_column(String(256))
    has_builder: Mapped[bool] = mapped_column(Boolean, default=False)
    acl: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    creator_id: Mapped[str] = mapped_column(String(24))
    creator_type: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    state_changed: Mapped[datetime]
    error_message: Mapped[str | None] = mapped_column(Text)
    error_time: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class SourceAclRow(Base):
    """One role's entry in a source's ACL, kept as rows so that list queries can filter by role in SQL."""

    __tablename__ = "image_source_acl"

    source_id: Mapped[str] = mapped_column(ForeignKey("image_sources.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    view: Mapped[bool]
    modify: Mapped[bool]
    manage: Mapped[bool]
