"""Tables of the hubs domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from imgsrc.db import Base, JSONType


class HubRow(Base):
    """A hub: the unit of ownership and isolation. Nothing of one hub is visible to another hub's keys."""

    __tablename__ = "hubs"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    identifier: Mapped[str] = mapped_column(String(256), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RoleRow(Base):
    """A role of a hub; ACLs on sources grant privileges to roles, and API keys may carry one."""

    __tablename__ = "roles"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    hub_id: Mapped[str] = mapped_column(ForeignKey("hubs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    identifier: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime]


class ApiKeyRow(Base):
    """An API key. Only the SHA-256 of the secret is stored (the secret has 256 bits of entropy, so a fast hash is
    safe and keeps lookups O(1)); the secret itself is shown once, at creation."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    hub_id: Mapped[str] = mapped_column(ForeignKey("hubs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(16))
    capabilities: Mapped[list[str]] = mapped_column(JSONType)  # capability names, or ["all"]
    role_id: Mapped[str | None] = mapped_column(ForeignKey("roles.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
