"""Wire models of the Image resource, its build log and its requests."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from imgsrc.sources.origins import ImageOrigin
from imgsrc.wire import CreatorScope, Events, StateError, Timestamp, WireModel, omitted

__all__ = [
    "BuildLog",
    "CreateImageRequest",
    "CreateImagesJobRequest",
    "Image",
    "ImageAbout",
    "ImageBackend",
    "ImageBuild",
    "ImageBuilder",
    "ImageConfig",
    "ImageFactory",
    "ImageOverride",
    "ImagePort",
    "ImageRequires",
    "ImageSourceRef",
    "ImageSourceRefDetails",
    "ImageState",
    "ImageStateName",
    "ImageTaskRequest",
    "ImageVolume",
    "PruneContents",
    "UpdateImageRequest",
]

ImageStateName = Literal[
    "new", "uploading", "downloading", "building", "verifying", "saving", "live", "deleting", "deleted"
]
Name = Annotated[str, Field(min_length=1, max_length=256)]


class ImageAbout(WireModel):
    description: str | None = None


class ImageBackend(WireModel):
    """Where the image is stored: ``provider`` names the store (``local``, or ``registry`` for an external
    registry); ``file_id`` is the manifest digest; ``size`` the bytes stored."""

    provider: str
    size: int
    file_name: str
    file_id: str


class ImageRequires(WireModel):
    nvidia_gpu: bool = False


class ImageBuild(WireModel):
    """Build options (docker-file sources): build arguments, and whether to build on disk rather than in
    memory-backed scratch space."""

    args: dict[str, str] = Field(default_factory=dict, max_length=256)
    use_disk: bool = False

    @field_validator("args")
    @classmethod
    def _arg_names(cls, args: dict[str, str]) -> dict[str, str]:
        for name, value in args.items():
            if not name or len(name) > 256 or not (name[0].isalpha() or name[0] == "_"):
                raise ValueError(f"build argument names must start with a letter or `_`: {name[:40]!r}")
            if not all(c.isalnum() or c == "_" for c in name):
                raise ValueError(f"build argument names are letters, digits and `_`: {name[:40]!r}")
            if len(value) > 65536:
                raise ValueError(f"build argument {name} is too long")
        return args


class ImageBuilder(WireModel):
    integration_id: str


class ImagePort(WireModel):
    host: int
    container: int
    type: str


class ImageVolume(WireModel):
    path: str
    mode: Literal["ro", "rw"] = "rw"


class ImageConfig(WireModel):
    """Runtime settings read from the image's OCI config."""

    user: str = ""
    ports: list[ImagePort] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    command: list[str] = Field(default_factory=list)
    entrypoint: list[str] = Field(default_factory=list)
    volumes: list[ImageVolume] = Field(default_factory=list)
    workdir: str = ""
    signal_stop: str = ""


class ImageOverride(WireModel):
    """Replaces the source's target (registry origins) or tarball URL (docker-file) for one image."""

    target: str | None = omitted(min_length=1, max_length=1024)
    targz_url: str | None = omitted(min_length=1, max_length=2048)


class ImageSourceRefDetails(WireModel):
    id: str
    origin: ImageOrigin
    stack_id: str | None = omitted()
    containers: list[Any] | None = omitted()


class ImageSourceRef(WireModel):
    """The source an image was made from, with its origin as it was then (secrets masked)."""

    type: Literal["direct", "stack-build", "bucket"]
    details: ImageSourceRefDetails
    override: ImageOverride | None = omitted()


class ImageFactory(WireModel):
    node_id: str
    cached: Timestamp
    acknowledged: Timestamp


class ImageState(WireModel):
    current: ImageStateName
    changed: Timestamp
    error: StateError | None = omitted()


class Image(WireModel):
    """A point-in-time import or build from an image source: what the platform deploys from."""

    id: str
    hub_id: str
    name: str
    size: int
    about: ImageAbout
    backend: ImageBackend
    requires: ImageRequires
    build: ImageBuild | None = None
    builder: ImageBuilder | None = None
    config: ImageConfig
    source: ImageSourceRef | None = omitted()
    creator: CreatorScope
    factory: ImageFactory | None = None
    state: ImageState
    events: Events
    meta: dict[str, Any] | None = omitted()


class BuildLog(WireModel):
    """The factory's own account of an import or build."""

    id: str
    hub_id: str
    image_id: str
    log: str
    events: Events


# --- requests ----------------------------------------------------------------------------------------------------


class CreateImageRequest(WireModel):
    """``POST /v1/images``: an image of a source, in state ``new`` (start its import with a task)."""

    source_id: str = Field(min_length=1, max_length=256)
    name: Name | None = None
    build: ImageBuild | None = None
    override: ImageOverride | None = None


class UpdateImageRequest(WireModel):
    """``PATCH /v1/images/{id}``: rename."""

    name: Name | None = None


class ImageTaskRequest(WireModel):
    """``POST /v1/images/{id}/tasks``."""

    action: Literal["import"]


class PruneContents(WireModel):
    source_ids: list[str] = Field(min_length=1, max_length=100)


class CreateImagesJobRequest(WireModel):
    """``POST /v1/images/tasks``: prune the images of some sources."""

    action: Literal["prune"]
    contents: PruneContents
