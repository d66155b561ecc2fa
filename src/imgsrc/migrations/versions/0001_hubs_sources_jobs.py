"""Hubs, roles, API keys, image sources with their ACLs, and jobs.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from imgsrc.db import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "hubs",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("identifier", sa.String(256), nullable=False, index=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "roles",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column("hub_id", sa.String(24), sa.ForeignKey("hubs.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("identifier", sa.String(256), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column("hub_id", sa.String(24), sa.ForeignKey("hubs.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hint", sa.String(16), nullable=False),
        sa.Column("capabilities", JSON, nullable=False),
        sa.Column("role_id", sa.String(24), sa.ForeignKey("roles.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "image_sources",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column("hub_id", sa.String(24), sa.ForeignKey("hubs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("identifier", sa.String(256), nullable=False, index=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("origin_type", sa.String(32), nullable=False),
        sa.Column("origin_target", sa.String(1024), nullable=True),
        sa.Column("origin", JSON, nullable=False),
        sa.Column("origin_secrets", sa.Text(), nullable=True),
        sa.Column("builder_integration_id", sa.String(256), nullable=True),
        sa.Column("has_builder", sa.Boolean(), nullable=False),
        sa.Column("acl", JSON, nullable=True),
        sa.Column("creator_id", sa.String(24), nullable=False),
        sa.Column("creator_type", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_changed", UTCDateTime(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_time", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_image_sources_hub_state", "image_sources", ["hub_id", "state"])
    op.create_table(
        "image_source_acl",
        sa.Column(
            "source_id",
            sa.String(24),
            sa.ForeignKey("image_sources.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("role_id", sa.String(24), primary_key=True),
        sa.Column("view", sa.Boolean(), nullable=False),
        sa.Column("modify", sa.Boolean(), nullable=False),
        sa.Column("manage", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column("hub_id", sa.String(24), sa.ForeignKey("hubs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("caption", sa.String(256), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("header", sa.String(64), nullable=False),
        sa.Column("input", JSON, nullable=False),
        sa.Column("output", JSON, nullable=True),
        sa.Column("steps", JSON, nullable=False),
        sa.Column("progress", JSON, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_changed", UTCDateTime(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("task_id", sa.String(24), nullable=False),
        sa.Column("task_state", sa.String(16), nullable=False),
        sa.Column("task_state_changed", UTCDateTime(), nullable=False),
        sa.Column("creator_id", sa.String(24), nullable=False),
        sa.Column("creator_type", sa.String(32), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("limit_duplicates", sa.Boolean(), nullable=False),
        sa.Column("queued_at", UTCDateTime(), nullable=False),
        sa.Column("schedule", UTCDateTime(), nullable=False),
        sa.Column("expires", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_expires", UTCDateTime(), nullable=True),
        sa.Column("enqueued_at", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_jobs_hub_queued", "jobs", ["hub_id", "queued_at"])
    op.create_index("ix_jobs_state_lease", "jobs", ["state", "lease_expires"])


def downgrade() -> None:
    for table in ("jobs", "image_source_acl", "image_sources", "api_keys", "roles", "hubs"):
        op.drop_table(table)
