"""Tables of the images domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from imgsrc.db import Base, JSONType


class ImageRow(Base):
    """An image. ``origin`` is the source's origin when the image was created (masked), ``origin_secrets`` its
    sealed secrets; the digests and media type say what was stored."""

    __tablename__ = "images"
    __table_args__ = (
        Index("ix_images_hub_state", "hub_id", "state"),
        Index("ix_images_source", "source_id", "state"),
        Index("ix_images_hub_manifest", "hub_id", "manifest_digest"),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    hub_id: Mapped[str] = mapped_column(ForeignKey("hubs.id", ondelete="CASCADE"))
    source_id: Mapped[str] = mapped_column(ForeignKey("image_sources.id", ondelete="CASCADE"))
    source_type: Mapped[str] = mapped_column(String(32))
    origin_type: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[dict[str, Any]] = mapped_column(JSONType)
    origin_secrets: Mapped[str | None] = mapped_column(Text)
    override: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    build: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    builder_integration_id: Mapped[str | None] = mapped_column(String(256))
    creator_id: Mapped[str] = mapped_column(String(24))
    creator_type: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    state_changed: Mapped[datetime]
    error_message: Mapped[str | None] = mapped_column(Text)
    error_time: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
    # --- what was stored ---
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    backend_provider: Mapped[str | None] = mapped_column(String(32))
    backend_file_name: Mapped[str | None] = mapped_column(String(1024))
    config: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # the wire ImageConfig
    requires_gpu: Mapped[bool] = mapped_column(Boolean, default=False)
    reference: Mapped[str | None] = mapped_column(String(1024))  # what was resolved, for the log and /v2
    manifest_digest: Mapped[str | None] = mapped_column(String(80))
    manifest_media_type: Mapped[str | None] = mapped_column(String(128))
    index_digest: Mapped[str | None] = mapped_column(String(80))
    platform: Mapped[str | None] = mapped_column(String(64))
    factory_node: Mapped[str | None] = mapped_column(String(256))
    factory_cached: Mapped[datetime | None]
    factory_acknowledged: Mapped[datetime | None]
    import_job_id: Mapped[str | None] = mapped_column(String(24))
    # --- uploads ---
    upload_token_hash: Mapped[str | None] = mapped_column(String(64))
    upload_expires: Mapped[datetime | None]


class ImageBlobRow(Base):
    """A blob an image references (its manifest, config and layers). Rows are written when an import resolves
    its manifest, before any download: this claim is what keeps garbage collection off blobs in flight."""

    __tablename__ = "image_blobs"
    __table_args__ = (Index("ix_image_blobs_digest", "digest"),)

    image_id: Mapped[str] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    digest: Mapped[str] = mapped_column(String(80), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # index | manifest | config | layer
    media_type: Mapped[str] = mapped_column(String(256))
    size: Mapped[int] = mapped_column(BigInteger)
    position: Mapped[int] = mapped_column(Integer)


class BuildLogRow(Base):
    __tablename__ = "build_logs"

    image_id: Mapped[str] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(String(24), unique=True)
    hub_id: Mapped[str] = mapped_column(String(24))
    log: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
