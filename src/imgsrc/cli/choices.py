"""Choices of repeatable options, as enums (typer takes lists of enums, not lists of literals). Each mirrors a
literal type of the wire models; a test keeps them equal."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

__all__ = ["CapabilityChoice", "ImageStateChoice", "JobStateChoice", "OriginTypeChoice", "SourceStateChoice", "values"]


class SourceStateChoice(StrEnum):
    live = "live"
    deleting = "deleting"
    deleted = "deleted"


class JobStateChoice(StrEnum):
    new = "new"
    queued = "queued"
    scheduled = "scheduled"
    running = "running"
    completed = "completed"
    error = "error"
    expired = "expired"


class ImageStateChoice(StrEnum):
    new = "new"
    uploading = "uploading"
    downloading = "downloading"
    building = "building"
    verifying = "verifying"
    saving = "saving"
    live = "live"
    deleting = "deleting"
    deleted = "deleted"


class OriginTypeChoice(StrEnum):
    """Origin types an image can come from (the ``source_type`` filter of images)."""

    docker_hub = "docker-hub"
    docker_registry = "docker-registry"
    oci_registry = "oci-registry"
    docker_file = "docker-file"
    cycle_upload = "cycle-upload"
    none = "none"


class CapabilityChoice(StrEnum):
    all = "all"
    images_sources_view = "images-sources-view"
    images_sources_manage = "images-sources-manage"
    images_view = "images-view"
    images_manage = "images-manage"
    images_import = "images-import"
    hubs_manage = "hubs-manage"


def values(choices: Sequence[StrEnum] | None) -> list[str] | None:
    """Plain strings for the SDK (``None`` stays ``None``)."""
    return None if choices is None else [choice.value for choice in choices]
