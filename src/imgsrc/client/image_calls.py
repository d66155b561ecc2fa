"""Descriptions of the image calls (``/v1/images``), the upload's credentials, the pull reference and the progress
of an import: everything about images that needs no I/O, shared by the synchronous and asynchronous namespaces.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from imgsrc.client.bodies import body_of, build, segment
from imgsrc.client.http import Call, many, one
from imgsrc.client.query import Page, Values, list_params
from imgsrc.errors import InvalidArgumentError, MissingArgumentError
from imgsrc.images.schemas import (
    BuildLog,
    CreateImageRequest,
    CreateImagesJobRequest,
    Image,
    ImageBuild,
    ImageOverride,
    ImageTaskRequest,
    UpdateImageRequest,
)
from imgsrc.jobs.schemas import Job, JobDescriptor
from imgsrc.sources.origins import CycleUploadOrigin

__all__ = [
    "ImageCalls",
    "ImageRef",
    "ImportProgress",
    "UploadTarget",
    "guard_http_logs",
    "image_id_of",
    "pull_reference",
    "upload_target",
]

PATH = "/v1/images"
MASK = "********"
ImageRef = str | Image


def image_id_of(image: ImageRef) -> str:
    """The ID of an image given as an ID or as the image."""
    return image.id if isinstance(image, Image) else image


class ImageCalls:
    """Descriptions of the image calls (no I/O)."""

    @staticmethod
    def list(
        *,
        source_id: Values = None,
        identifier: Values = None,
        search: str | None = None,
        state: Values = None,
        source_type: Values = None,
        sort: Values = None,
        page: int | None = None,
        page_size: int | None = None,
        include: Values = None,
    ) -> Call[Page[Image]]:
        filters: dict[str, Values] = {
            "source_id": source_id,
            "identifier": identifier,
            "search": search,
            "state": state,
            "source_type": source_type,
        }
        params = list_params(filters=filters, sort=sort, page=page, page_size=page_size, include=include)
        return Call("GET", PATH, many(Image), params=params)

    @staticmethod
    def get(image: ImageRef, *, include: Values = None) -> Call[Image]:
        return Call("GET", f"{PATH}/{segment(image_id_of(image))}", one(Image), params=list_params(include=include))

    @staticmethod
    def create(
        source_id: str,
        *,
        name: str | None = None,
        build_options: ImageBuild | Mapping[str, Any] | None = None,
        override: ImageOverride | Mapping[str, Any] | None = None,
    ) -> Call[Image]:
        fields: dict[str, Any] = {"source_id": source_id}
        for key, value in (("name", name), ("build", build_options), ("override", override)):
            if value is not None:
                fields[key] = value
        return Call("POST", PATH, one(Image), body=body_of(build(CreateImageRequest, fields)))

    @staticmethod
    def rename(image: ImageRef, name: str) -> Call[Image]:
        request = build(UpdateImageRequest, {"name": name})
        return Call("PATCH", f"{PATH}/{segment(image_id_of(image))}", one(Image), body=body_of(request))

    @staticmethod
    def delete(image: ImageRef) -> Call[JobDescriptor]:
        return Call("DELETE", f"{PATH}/{segment(image_id_of(image))}", one(JobDescriptor))

    @staticmethod
    def start_import(image: ImageRef) -> Call[JobDescriptor]:
        body = body_of(ImageTaskRequest(action="import"))
        return Call("POST", f"{PATH}/{segment(image_id_of(image))}/tasks", one(JobDescriptor), body=body)

    @staticmethod
    def prune(source_ids: str | Sequence[str]) -> Call[JobDescriptor]:
        ids = [source_ids] if isinstance(source_ids, str) else list(source_ids)
        request = build(CreateImagesJobRequest, {"action": "prune", "contents": {"source_ids": ids}})
        return Call("POST", f"{PATH}/tasks", one(JobDescriptor), body=body_of(request))

    @staticmethod
    def build_log(image: ImageRef) -> Call[BuildLog]:
        return Call("GET", f"{PATH}/{segment(image_id_of(image))}/build-log", one(BuildLog))

    @staticmethod
    def upload(
        target: UploadTarget, headers: Mapping[str, str], *, timeout: float | None, connect: float
    ) -> Call[Image]:
        """The upload request: the token is the credential (no API key is sent) and is kept out of messages.
        ``timeout`` bounds the wait for the answer once the file is sent (the server verifies the archive then);
        ``connect`` bounds connecting and each write."""
        return Call(
            "POST",
            f"{PATH}/{segment(target.image_id)}/upload",
            one(Image),
            params=[("hub-id", target.hub_id), ("token", target.token)],
            headers=headers,
            anonymous=True,
            redact=(target.token,),
            timeout=httpx.Timeout(connect, read=timeout, write=connect, pool=connect),
        )


# --- uploads --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadTarget:
    """Where an upload goes and its credential (excluded from the ``repr``)."""

    image_id: str
    hub_id: str
    token: str

    def __repr__(self) -> str:
        return f"UploadTarget(image_id={self.image_id!r}, hub_id={self.hub_id!r}, token=<set>)"


def _token_of(image: Image) -> str | None:
    origin = image.source.details.origin if image.source is not None else None
    if not isinstance(origin, CycleUploadOrigin):
        return None
    token = origin.details.token
    return token if token and token != MASK else None


def upload_target(image: ImageRef, *, token: str | None, hub_id: str | None, default_hub: str | None) -> UploadTarget:
    """The image, hub and token of an upload. Given the image answered by ``create``, its one-time token and hub
    are used; given an ID, ``token`` is required and the hub defaults to the client's."""
    if isinstance(image, Image):
        origin = image.source.details.origin if image.source is not None else None
        if origin is not None and not isinstance(origin, CycleUploadOrigin):
            raise InvalidArgumentError(
                f"image {image.id} comes from a `{origin.type}` source; only images of cycle-upload sources are "
                "uploaded (import the others)"
            )
        token = token or _token_of(image)
        hub_id = hub_id or image.hub_id
    if not token:
        raise MissingArgumentError(
            "no upload token: pass `token`, or the image exactly as `create` answered it (the token is shown only "
            "there)",
            source="/query/token",
        )
    hub = hub_id or default_hub
    if not hub:
        raise MissingArgumentError("no hub: pass `hub_id` or give the client one", source="/query/hub-id")
    return UploadTarget(image_id=image_id_of(image), hub_id=hub, token=token)


_TOKEN_QUERY = re.compile(r"(?P<key>[?&]token=)[^&\s\"']*")


class _MaskUploadToken(logging.Filter):
    """Masks ``token=`` query values in httpx's request log lines (httpx logs every URL at INFO)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = _TOKEN_QUERY.sub(lambda m: m.group("key") + MASK, message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def guard_http_logs() -> None:
    """Install (once) the filter that keeps upload tokens out of httpx's log lines. Called before an upload, never
    at import: an application that logs httpx at INFO would otherwise record the token with the URL."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _MaskUploadToken) for f in logger.filters):
        logger.addFilter(_MaskUploadToken())


# --- pulling --------------------------------------------------------------------------------------------------------


def pull_reference(base_url: str, image: Image) -> str:
    """``<host[:port]>/<hub id>/<source id>:<image id>``: the image as the server's read-only registry (``/v2/``)
    serves it, for ``skopeo``, ``podman`` or ``crane``. The host is the client's server (without credentials or
    path: registries live at the host's root); a default port (80 for http, 443 for https) is left out."""
    if image.source is None:
        raise InvalidArgumentError(f"image {image.id} names no source: it has no pull reference")
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    default = {"http": 80, "https": 443}.get(parts.scheme)
    if parts.port is not None and parts.port != default:
        host = f"{host}:{parts.port}"
    return f"{host}/{image.hub_id}/{image.source.details.id}:{image.id}"


# --- imports --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportProgress:
    """One reading of a running import: the job (its step and byte and layer counts) and the image as last read
    (its state: ``downloading``, ``verifying``…; ``None`` if it could not be read)."""

    job: Job
    image: Image | None

    def _count(self, key: str) -> int:
        value = (self.job.progress or {}).get(key)
        return int(value) if isinstance(value, int) else 0

    @property
    def state(self) -> str:
        """The image's state once the job runs; before, the job's (``queued``)."""
        if self.image is not None and (self.job.state.current == "running" or self.image.state.current != "new"):
            return self.image.state.current
        return self.job.state.current

    @property
    def step(self) -> str | None:
        steps = [step for task in self.job.tasks for step in task.steps or []]
        return steps[-1].caption if steps else None

    @property
    def bytes_done(self) -> int:
        return self._count("bytes_done")

    @property
    def bytes_total(self) -> int:
        return self._count("bytes_total")

    @property
    def layers_total(self) -> int:
        return self._count("layers_total")

    @property
    def layers_present(self) -> int:
        """Layers already stored (another image had them): not downloaded again."""
        return self._count("layers_present")

    @property
    def layers_done(self) -> int:
        return self._count("layers_done")
