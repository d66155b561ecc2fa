"""Use cases of hubs, roles and API keys (no HTTP here)."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from imgsrc.db import Database
from imgsrc.errors import AuthInvalidError, InvalidArgumentError, NotFoundError
from imgsrc.hubs.access import Principal
from imgsrc.hubs.models import ApiKeyRow, HubRow, RoleRow
from imgsrc.hubs.schemas import ApiKey, CreatedHub, Hub, Role
from imgsrc.ids import is_id, new_id, slugify
from imgsrc.wire import ZERO_TIME, Events, Timestamp, utcnow

__all__ = [
    "KEY_PREFIX",
    "authenticate",
    "bootstrap",
    "create_api_key",
    "create_hub",
    "create_role",
    "get_hub",
    "list_api_keys",
    "list_roles",
    "revoke_api_key",
]

KEY_PREFIX = "imgsrc_"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _events(created: Timestamp, updated: Timestamp | None = None, deleted: Timestamp | None = None) -> Events:
    return Events(created=created, updated=updated or created, deleted=deleted or ZERO_TIME)


def hub_wire(row: HubRow) -> Hub:
    return Hub(
        id=row.id,
        name=row.name,
        identifier=row.identifier,
        events=_events(Timestamp.of(row.created_at), Timestamp.of(row.updated_at)),
    )


def role_wire(row: RoleRow) -> Role:
    return Role(
        id=row.id,
        hub_id=row.hub_id,
        name=row.name,
        identifier=row.identifier,
        events=_events(Timestamp.of(row.created_at)),
    )


def key_wire(row: ApiKeyRow, secret: str | None = None) -> ApiKey:
    return ApiKey(
        id=row.id,
        hub_id=row.hub_id,
        name=row.name,
        hint=row.hint,
        capabilities=list(row.capabilities),
        role_id=row.role_id,
        events=_events(
            Timestamp.of(row.created_at),
            deleted=Timestamp.of(row.revoked_at) if row.revoked_at else None,
        ),
        secret=secret,
    )


def create_hub(session: Session, name: str, identifier: str | None = None) -> CreatedHub:
    """A new hub with an admin key (capability ``all``) whose secret is returned this once."""
    now = utcnow()
    hub = HubRow(
        id=new_id(),
        name=name,
        identifier=identifier or slugify(name) or "hub",
        created_at=now,
        updated_at=now,
    )
    session.add(hub)
    session.flush()
    key = create_api_key(session, hub.id, name="admin", capabilities=["all"], role_id=None)
    return CreatedHub(hub=hub_wire(hub), api_key=key)


def get_hub(session: Session, hub_id: str) -> Hub:
    row = session.get(HubRow, hub_id) if is_id(hub_id) else None
    if row is None:
        raise NotFoundError("hub not found", code="404.hub")
    return hub_wire(row)


def create_role(session: Session, hub_id: str, name: str, identifier: str | None = None) -> Role:
    row = RoleRow(
        id=new_id(),
        hub_id=hub_id,
        name=name,
        identifier=identifier or slugify(name) or "role",
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return role_wire(row)


def list_roles(session: Session, hub_id: str) -> list[Role]:
    rows = session.scalars(select(RoleRow).where(RoleRow.hub_id == hub_id).order_by(RoleRow.id))
    return [role_wire(r) for r in rows]


def role_ids_of_hub(session: Session, hub_id: str, candidates: list[str]) -> set[str]:
    """Which of ``candidates`` are roles of the hub."""
    ids = [c for c in candidates if is_id(c)]
    if not ids:
        return set()
    return set(session.scalars(select(RoleRow.id).where(RoleRow.hub_id == hub_id, RoleRow.id.in_(ids))))


def create_api_key(session: Session, hub_id: str, *, name: str, capabilities: list[str], role_id: str | None) -> ApiKey:
    """A new key; the answer carries its secret, which is never shown again (only its hash is kept)."""
    if role_id is not None and not role_ids_of_hub(session, hub_id, [role_id]):
        raise InvalidArgumentError("no such role in this hub", source="/role_id")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(
        id=new_id(),
        hub_id=hub_id,
        name=name,
        secret_hash=_hash(secret),
        hint=secret[: len(KEY_PREFIX) + 4],
        capabilities=sorted(set(capabilities)),
        role_id=role_id,
        created_at=utcnow(),
        revoked_at=None,
    )
    session.add(row)
    session.flush()
    return key_wire(row, secret)


def list_api_keys(session: Session, hub_id: str) -> list[ApiKey]:
    rows = session.scalars(
        select(ApiKeyRow).where(ApiKeyRow.hub_id == hub_id, ApiKeyRow.revoked_at.is_(None)).order_by(ApiKeyRow.id)
    )
    return [key_wire(r) for r in rows]


def revoke_api_key(session: Session, hub_id: str, key_id: str) -> ApiKey:
    row = session.get(ApiKeyRow, key_id) if is_id(key_id) else None
    if row is None or row.hub_id != hub_id or row.revoked_at is not None:
        raise NotFoundError("API key not found", code="404.hub.api-key")
    row.revoked_at = utcnow()
    return key_wire(row)


def authenticate(session: Session, secret: str) -> Principal:
    """The principal of a key secret; ``401.auth-invalid`` for an unknown or revoked key."""
    if not secret.startswith(KEY_PREFIX) or len(secret) > 256:
        raise AuthInvalidError("invalid API key")
    row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.secret_hash == _hash(secret)))
    if row is None or row.revoked_at is not None:
        raise AuthInvalidError("invalid API key")
    return Principal(key_id=row.id, hub_id=row.hub_id, capabilities=frozenset(row.capabilities), role_id=row.role_id)


def bootstrap(db: Database, data_dir: Path) -> Path | None:
    """On the first start (no hub at all), create the default hub and an admin key and write them to
    ``<data_dir>/bootstrap.json`` (mode 0600). Returns the file's path when it was written, else None. The key
    itself is never printed or logged."""
    with db.session() as session:
        if session.scalar(select(HubRow.id).limit(1)) is not None:
            return None
        created = create_hub(session, "Default")
        path = data_dir / "bootstrap.json"
        data_dir.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(".bootstrap.json.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"hub_id": created.hub.id, "api_key": created.api_key.secret}, handle)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    return path
