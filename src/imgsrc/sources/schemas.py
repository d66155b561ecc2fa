"""Wire models of the Image Source resource (the seed document) and its requests."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from imgsrc.ids import SLUG_PATTERN
from imgsrc.sources.origins import ImageOrigin
from imgsrc.wire import CreatorScope, Events, StateError, Timestamp, WireModel, omitted

__all__ = [
    "ACL",
    "ACLEntry",
    "CreateImageSourceRequest",
    "ImageSource",
    "ImageSourceAbout",
    "ImageSourceBuilder",
    "ImageSourceMeta",
    "ImageSourceState",
    "ImageSourceType",
    "ImagesCount",
    "ImagesCountByState",
    "SourceState",
    "UpdateImageSourceAccessRequest",
    "UpdateImageSourceRequest",
]

ImageSourceType = Literal["direct", "stack-build", "bucket"]
SourceState = Literal["live", "deleting", "deleted"]
Count = Annotated[int | float, Field(ge=0)]
Identifier = Annotated[str, Field(min_length=1, max_length=256, pattern=SLUG_PATTERN)]
Name = Annotated[str, Field(min_length=1, max_length=256)]


class ImageSourceAbout(WireModel):
    description: str | None = Field(default=None, max_length=16384)


class ImageSourceBuilder(WireModel):
    integration_id: str | None = Field(default=None, max_length=256)


class ACLEntry(WireModel):
    view: bool
    modify: bool
    manage: bool


class ACL(WireModel):
    """Which roles may do what with a resource. An ACL must list at least one role; ``null`` removes it."""

    roles: dict[str, ACLEntry]

    @field_validator("roles")
    @classmethod
    def _not_empty(cls, roles: dict[str, ACLEntry]) -> dict[str, ACLEntry]:
        if not roles:
            raise ValueError("an ACL must list at least one role (send `null` to remove the ACL)")
        if len(roles) > 256:
            raise ValueError("an ACL lists at most 256 roles")
        return roles


class ImageSourceState(WireModel):
    current: SourceState
    changed: Timestamp
    error: StateError | None = omitted()


class ImagesCountByState(WireModel):
    """Images of a source by state. ``uploading`` is this project's addition to the seed's seven."""

    new: Count = 0
    uploading: Count | None = omitted()
    downloading: Count = 0
    building: Count = 0
    verifying: Count = 0
    saving: Count = 0
    live: Count = 0
    deleting: Count = 0


class ImagesCount(WireModel):
    total: Count
    state: ImagesCountByState


class ImageSourceMeta(WireModel):
    images_count: ImagesCount | None = omitted()


class ImageSource(WireModel):
    """An image source: directions to where the platform can find what it needs to build or import images."""

    id: str
    identifier: str
    type: ImageSourceType
    hub_id: str
    name: str
    about: ImageSourceAbout | None = omitted()
    origin: ImageOrigin
    builder: ImageSourceBuilder | None = None
    creator: CreatorScope
    acl: ACL | None = omitted()
    state: ImageSourceState
    events: Events
    meta: ImageSourceMeta | None = omitted()


# --- requests ----------------------------------------------------------------------------------------------------


class CreateImageSourceRequest(WireModel):
    """``POST /v1/images/sources``."""

    type: ImageSourceType
    origin: ImageOrigin
    name: Name | None = None
    identifier: Identifier | None = None
    about: ImageSourceAbout | None = None
    builder: ImageSourceBuilder | None = None
    acl: ACL | None = None


class UpdateImageSourceRequest(WireModel):
    """``PATCH /v1/images/sources/{id}``: only the fields sent change. Secrets sent as the mask (or left out of a
    new origin) keep their stored value."""

    name: Name | None = None
    identifier: Identifier | None = None
    origin: ImageOrigin | None = None
    builder: ImageSourceBuilder | None = None
    about: ImageSourceAbout | None = None

    @field_validator("name", "identifier", "origin", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Runs only for fields that were sent: an explicit null is refused, leaving a field out keeps it.
        if value is None:
            raise ValueError("cannot be null; leave the field out to keep its value")
        return value


class UpdateImageSourceAccessRequest(WireModel):
    """``PATCH /v1/images/sources/{id}/access``."""

    acl: ACL | None
