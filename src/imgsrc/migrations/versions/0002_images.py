"""Images, the blobs they reference, and their build logs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from imgsrc.db import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "images",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column("hub_id", sa.String(24), sa.ForeignKey("hubs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("source_id", sa.String(24), sa.ForeignKey("image_sources.id", ondelete="CASCADE"), nullable=False),
        sa.Column("source_type", sa.String(32), nullable=False),
        sa.Column("origin_type", sa.String(32), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("origin", JSON, nullable=False),
        sa.Column("origin_secrets", sa.Text(), nullable=True),
        sa.Column("override", JSON, nullable=True),
        sa.Column("build", JSON, nullable=True),
        sa.Column("builder_integration_id", sa.String(256), nullable=True),
        sa.Column("creator_id", sa.String(24), nullable=False),
        sa.Column("creator_type", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_changed", UTCDateTime(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_time", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("backend_provider", sa.String(32), nullable=True),
        sa.Column("backend_file_name", sa.String(1024), nullable=True),
        sa.Column("config", JSON, nullable=True),
        sa.Column("requires_gpu", sa.Boolean(), nullable=False),
        sa.Column("reference", sa.String(1024), nullable=True),
        sa.Column("manifest_digest", sa.String(80), nullable=True),
        sa.Column("manifest_media_type", sa.String(128), nullable=True),
        sa.Column("index_digest", sa.String(80), nullable=True),
        sa.Column("platform", sa.String(64), nullable=True),
        sa.Column("factory_node", sa.String(256), nullable=True),
        sa.Column("factory_cached", UTCDateTime(), nullable=True),
        sa.Column("factory_acknowledged", UTCDateTime(), nullable=True),
        sa.Column("import_job_id", sa.String(24), nullable=True),
        sa.Column("upload_token_hash", sa.String(64), nullable=True),
        sa.Column("upload_expires", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_images_hub_state", "images", ["hub_id", "state"])
    op.create_index("ix_images_source", "images", ["source_id", "state"])
    op.create_index("ix_images_hub_manifest", "images", ["hub_id", "manifest_digest"])
    op.create_table(
        "image_blobs",
        sa.Column("image_id", sa.String(24), sa.ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("digest", sa.String(80), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("media_type", sa.String(256), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_index("ix_image_blobs_digest", "image_blobs", ["digest"])
    op.create_table(
        "build_logs",
        sa.Column("image_id", sa.String(24), sa.ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("id", sa.String(24), nullable=False, unique=True),
        sa.Column("hub_id", sa.String(24), nullable=False),
        sa.Column("log", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in ("build_logs", "image_blobs", "images"):
        op.drop_table(table)
