"""Use cases of image sources (no HTTP here): create, read, list, update, change access, delete."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Select, and_, delete, exists, not_, or_, select
from sqlalchemy.orm import Session

from imgsrc.errors import InvalidArgumentError, InvalidStateError, NotFoundError, PermissionsError
from imgsrc.hubs.access import Principal, Privilege
from imgsrc.hubs.models import ApiKeyRow
from imgsrc.hubs.service import key_wire, role_ids_of_hub
from imgsrc.ids import is_id, new_id, slugify
from imgsrc.jobs.models import JobRow
from imgsrc.jobs.service import create_job
from imgsrc.listing import ListQuery
from imgsrc.queries import filter_states, page_of, search
from imgsrc.secretfields import MASK, apply_secrets, find_secrets, mask_secrets, secret_values
from imgsrc.sources.models import SourceAclRow, SourceRow
from imgsrc.sources.origins import CycleUploadDetails, CycleUploadOrigin, DockerFileOrigin, ImageOrigin
from imgsrc.sources.schemas import (
    ACL,
    CreateImageSourceRequest,
    ImagesCount,
    ImageSource,
    ImageSourceAbout,
    ImageSourceBuilder,
    ImageSourceMeta,
    ImageSourceState,
    UpdateImageSourceAccessRequest,
    UpdateImageSourceRequest,
)
from imgsrc.vault import Vault
from imgsrc.wire import ZERO_TIME, CreatorScope, Events, StateError, Timestamp, stamp, utcnow

__all__ = [
    "SOURCE_FILTERS",
    "SOURCE_SORT_KEYS",
    "create_source",
    "find_source",
    "inherit_existing",
    "list_sources",
    "mark_deleted",
    "parse_origin",
    "request_delete",
    "source_origin_with_secrets",
    "source_wire",
    "update_access",
    "update_source",
    "visible_to",
    "wire_origin",
]

_ORIGIN = TypeAdapter[ImageOrigin](ImageOrigin)

SOURCE_FILTERS = {"identifier": True, "search": False, "state": True}
SOURCE_SORT_KEYS = {
    "id": SourceRow.id,
    "name": SourceRow.name,
    "identifier": SourceRow.identifier,
    "state": SourceRow.state,
    "created": SourceRow.created_at,
    "updated": SourceRow.updated_at,
}
SOURCE_STATES = ("live", "deleting", "deleted")


# --- wire conversion -----------------------------------------------------------------------------------------------


def wire_origin(stored: dict[str, Any]) -> ImageOrigin:
    """A stored (masked) origin document as the wire model."""
    origin = _ORIGIN.validate_python(stored)
    if isinstance(origin, CycleUploadOrigin):
        # The published schema requires both fields; a source has no token of its own.
        origin = CycleUploadOrigin(type="cycle-upload", details=CycleUploadDetails(token="", expires=ZERO_TIME))
    return origin


def source_wire(row: SourceRow, *, images_count: ImagesCount | None = None, with_meta: bool = True) -> ImageSource:
    """The wire form of a source (secrets masked: the row only ever holds the masked origin)."""
    error = (
        StateError(message=row.error_message, time=Timestamp.of(row.error_time) if row.error_time else None)
        if row.error_message
        else None
    )
    return ImageSource(
        id=row.id,
        identifier=row.identifier,
        type=row.type,
        hub_id=row.hub_id,
        name=row.name,
        about=ImageSourceAbout(description=row.description),
        origin=wire_origin(row.origin),
        builder=ImageSourceBuilder(integration_id=row.builder_integration_id) if row.has_builder else None,
        creator=CreatorScope(id=row.creator_id, type=row.creator_type),
        acl=ACL.model_validate(row.acl) if row.acl else None,
        state=ImageSourceState(current=row.state, changed=Timestamp.of(row.state_changed), error=error),
        events=Events(
            created=Timestamp.of(row.created_at),
            updated=Timestamp.of(row.updated_at),
            deleted=stamp(row.deleted_at),
        ),
        meta=ImageSourceMeta(images_count=images_count) if with_meta else None,
    )


def _origin_target(origin: ImageOrigin) -> str | None:
    details = getattr(origin, "details", None)
    if isinstance(origin, DockerFileOrigin):
        return origin.details.repo.url if origin.details.repo else origin.details.targz_url
    target = getattr(details, "target", None)
    return target if isinstance(target, str) else None


# --- validation ----------------------------------------------------------------------------------------------------


def _check_origin(session: Session, principal: Principal, origin: ImageOrigin, self_id: str | None) -> None:
    """Rules that need more than the shape: no cycle-source on a source; ``existing`` names a live source of the
    same hub and origin type; no mask standing for a secret that is not stored."""
    if origin.type == "cycle-source":
        raise InvalidArgumentError(
            "a `cycle-source` origin only has meaning inside stack files; a source cannot be created with it",
            source="/origin/type",
        )
    for pointer, value in secret_values(origin).items():
        if value == MASK:
            raise InvalidArgumentError(
                "the mask stands for a stored secret, and none is stored here; send the secret itself",
                source=f"/origin{pointer}",
            )
    existing = getattr(getattr(origin, "details", None), "existing", None)
    if existing is not None:
        pointer = "/origin/details/existing/source_id"
        other = _lookup(session, principal.hub_id, existing.source_id)
        if other is None or other.state != "live":
            raise InvalidArgumentError("`existing.source_id` names no live source of this hub", source=pointer)
        if other.id == self_id:
            raise InvalidArgumentError("a source cannot take its details from itself", source=pointer)
        if other.origin_type != origin.type:
            raise InvalidArgumentError(
                f"`existing.source_id` names a `{other.origin_type}` source; this origin is `{origin.type}`",
                source=pointer,
            )


def _check_acl(session: Session, hub_id: str, acl: ACL | None, pointer: str) -> None:
    if acl is None:
        return
    known = role_ids_of_hub(session, hub_id, list(acl.roles))
    for role_id in acl.roles:
        if role_id not in known:
            raise InvalidArgumentError("no such role in this hub", source=f"{pointer}/roles/{role_id}")


def _set_acl(session: Session, row: SourceRow, acl: ACL | None) -> None:
    row.acl = acl.model_dump() if acl else None
    session.execute(delete(SourceAclRow).where(SourceAclRow.source_id == row.id))
    if acl:
        session.add_all(
            SourceAclRow(source_id=row.id, role_id=role, view=e.view, modify=e.modify, manage=e.manage)
            for role, e in acl.roles.items()
        )


def _store_origin(row: SourceRow, vault: Vault, origin: ImageOrigin) -> None:
    if isinstance(origin, CycleUploadOrigin):
        origin = CycleUploadOrigin(type="cycle-upload")
    row.origin = mask_secrets(origin).model_dump(mode="json")
    row.origin_secrets = vault.seal(find_secrets(origin))
    row.origin_type = origin.type
    row.origin_target = (_origin_target(origin) or "")[:1024] or None


# --- use cases -----------------------------------------------------------------------------------------------------


def create_source(session: Session, vault: Vault, principal: Principal, request: CreateImageSourceRequest) -> SourceRow:
    principal.require("images-sources-manage")
    _check_origin(session, principal, request.origin, None)
    _check_acl(session, principal.hub_id, request.acl, "/acl")
    now = utcnow()
    name = request.name or _origin_target(request.origin) or request.origin.type
    row = SourceRow(
        id=new_id(),
        hub_id=principal.hub_id,
        identifier=request.identifier or slugify(name)[:256].strip("-") or "image-source",
        name=name[:256],
        type=request.type,
        description=request.about.description if request.about else None,
        builder_integration_id=request.builder.integration_id if request.builder else None,
        has_builder=request.builder is not None,
        creator_id=principal.key_id,
        creator_type="api-key",
        state="live",
        state_changed=now,
        error_message=None,
        error_time=None,
        created_at=now,
        updated_at=now,
        deleted_at=None,
    )
    _store_origin(row, vault, request.origin)
    session.add(row)
    session.flush()
    _set_acl(session, row, request.acl)
    return row


def _lookup(session: Session, hub_id: str, ref: str) -> SourceRow | None:
    """By ID first (a 24-hex string), then by identifier (the newest source not deleted wins)."""
    if is_id(ref):
        row = session.get(SourceRow, ref)
        if row is not None and row.hub_id == hub_id:
            return row
    return session.scalar(
        select(SourceRow)
        .where(SourceRow.hub_id == hub_id, SourceRow.identifier == ref, SourceRow.state != "deleted")
        .order_by(SourceRow.created_at.desc(), SourceRow.id.desc())
        .limit(1)
    )


def find_source(
    session: Session,
    principal: Principal,
    ref: str,
    privilege: Privilege = "view",
    *,
    for_update: bool = False,
) -> SourceRow:
    """A source of the caller's hub the caller may see; 404 otherwise (indistinguishable from absent). Without
    the ACL privilege the action needs, a visible source answers 403."""
    row = _lookup(session, principal.hub_id, ref)
    if row is None or not principal.acl_allows(row.acl and row.acl.get("roles"), "view"):
        raise NotFoundError("image source not found", code="404.image.source")
    if privilege != "view" and not principal.acl_allows(row.acl.get("roles") if row.acl else None, privilege):
        raise PermissionsError(f"the source's ACL does not grant `{privilege}` to this key's role")
    if for_update and row.state != "live":
        raise InvalidStateError(f"the source is {row.state}")
    return row


def visible_to(query: Select[Any], principal: Principal, source_id: Any) -> Select[Any]:
    """``query`` narrowed to rows whose source (``source_id``: the column naming it) the key may view: sources
    without an ACL, and those whose ACL grants ``view`` to the key's role. Keys holding ``all`` see everything.
    Images follow their source's ACL, so the images domain uses this too."""
    if principal.is_all:
        return query
    has_acl = exists().where(SourceAclRow.source_id == source_id)
    if principal.role_id is None:
        return query.where(not_(has_acl))
    granted = exists().where(
        and_(
            SourceAclRow.source_id == source_id,
            SourceAclRow.role_id == principal.role_id,
            SourceAclRow.view.is_(True),
        )
    )
    return query.where(or_(not_(has_acl), granted))


def list_sources(session: Session, principal: Principal, query: ListQuery) -> tuple[list[SourceRow], int]:
    """One page of the hub's sources the caller may see, and the total matching."""
    principal.require("images-sources-view")
    stmt = visible_to(select(SourceRow).where(SourceRow.hub_id == principal.hub_id), principal, SourceRow.id)
    stmt = filter_states(stmt, SourceRow.state, query, SOURCE_STATES)
    if query.filters.get("identifier"):
        stmt = stmt.where(SourceRow.identifier.in_(query.filters["identifier"]))
    columns = (SourceRow.name, SourceRow.identifier, SourceRow.description, SourceRow.origin_target)
    return page_of(session, search(stmt, query, columns), query, SOURCE_SORT_KEYS, SourceRow.id)


def creators_include(session: Session, rows: Sequence[Any]) -> dict[str, Any]:
    """``include=creators``: each creating API key once, by ID (secrets never included). ``rows`` are any
    resources with ``creator_id``/``creator_type`` (sources, images)."""
    ids = {r.creator_id for r in rows if r.creator_type == "api-key"}
    if not ids:
        return {}
    keys = session.scalars(select(ApiKeyRow).where(ApiKeyRow.id.in_(ids)))
    return {k.id: key_wire(k).model_dump(mode="json") for k in keys}


def update_source(
    session: Session, vault: Vault, principal: Principal, ref: str, request: UpdateImageSourceRequest
) -> SourceRow:
    principal.require("images-sources-manage")
    row = find_source(session, principal, ref, "modify", for_update=True)
    sent = request.model_fields_set
    if "origin" in sent and request.origin is not None:
        merged = apply_secrets(request.origin, vault.open(row.origin_secrets))
        _check_origin(session, principal, merged, row.id)
        _store_origin(row, vault, merged)
    if "name" in sent and request.name is not None:
        row.name = request.name
    if "identifier" in sent and request.identifier is not None:
        row.identifier = request.identifier
    if "about" in sent:
        row.description = request.about.description if request.about else None
    if "builder" in sent:
        row.has_builder = request.builder is not None
        row.builder_integration_id = request.builder.integration_id if request.builder else None
    row.updated_at = utcnow()
    return row


def update_access(
    session: Session, principal: Principal, ref: str, request: UpdateImageSourceAccessRequest
) -> SourceRow:
    principal.require("images-sources-manage")
    row = find_source(session, principal, ref, "manage", for_update=True)
    _check_acl(session, principal.hub_id, request.acl, "/acl")
    _set_acl(session, row, request.acl)
    row.updated_at = utcnow()
    return row


def request_delete(session: Session, principal: Principal, ref: str) -> JobRow:
    """Mark the source ``deleting`` and queue the job that deletes its images, then the source."""
    principal.require("images-sources-manage")
    row = find_source(session, principal, ref, "manage", for_update=True)
    now = utcnow()
    row.state, row.state_changed, row.updated_at = "deleting", now, now
    return create_job(
        session,
        principal,
        action="delete",
        caption="Delete image source",
        header="image.source.delete",
        input={"source_id": row.id},
    )


def source_origin_with_secrets(session: Session, vault: Vault, row: SourceRow) -> ImageOrigin:
    """The source's origin with its secrets restored and ``existing.source_id`` resolved."""
    origin = apply_secrets(_ORIGIN.validate_python(row.origin), vault.open(row.origin_secrets))
    return inherit_existing(session, vault, row.hub_id, origin, self_id=row.id)


def inherit_existing(
    session: Session, vault: Vault, hub_id: str, origin: ImageOrigin, *, self_id: str | None = None
) -> ImageOrigin:
    """Every detail ``origin`` leaves unset, taken from the source named by ``existing.source_id`` (credentials
    included: they are used, never copied into what is stored)."""
    existing = getattr(getattr(origin, "details", None), "existing", None)
    if existing is None:
        return origin
    other = _lookup(session, hub_id, existing.source_id)
    if other is None or other.state != "live" or other.origin_type != origin.type or other.id == self_id:
        raise InvalidArgumentError(
            "the source named by `existing.source_id` is gone or of another type",
            source="/origin/details/existing/source_id",
        )
    base = apply_secrets(_ORIGIN.validate_python(other.origin), vault.open(other.origin_secrets))
    merged = _inherit(base.model_dump(), origin.model_dump(exclude_unset=True))
    merged["details"].pop("existing", None)
    return _ORIGIN.validate_python(merged)


def parse_origin(stored: dict[str, Any]) -> ImageOrigin:
    """A stored origin document (masked) as the model."""
    return _ORIGIN.validate_python(stored)


def _inherit(base: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """``own`` over ``base``: a value set in ``own`` wins; ``None`` or absent takes ``base``'s."""
    out = dict(base)
    for key, value in own.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            out[key] = _inherit(base[key], value)
        else:
            out[key] = value
    return out


def mark_deleted(session: Session, source_id: str) -> None:
    """The last step of a source's deletion job."""
    row = session.get(SourceRow, source_id)
    if row is None or row.state == "deleted":
        return
    now = utcnow()
    row.state, row.state_changed, row.updated_at, row.deleted_at = "deleted", now, now, now
