"""The Python SDK of imgsrc: typed access to image sources, images, jobs, hubs, roles and API keys.

::

    from imgsrc.client import Client, NotFoundError

    with Client.from_bootstrap("~/.local/share/imgsrc") as client:      # or Client(url, api_key, hub_id)
        source = client.sources.create(name="redis", origin={"type": "docker-hub", "details": {"target": "redis:7"}})
        image = client.images.import_(client.images.create(source.id), on_progress=print)   # live, or raises
        print(image.backend.file_id, client.images.pull_ref(image))
        job = client.jobs.wait(client.sources.delete(source.id), timeout=60)

Answers are the shared wire models (:class:`ImageSource`, :class:`Job`…). Errors are the project's own tree
(:mod:`imgsrc.errors`), chosen by the server's error code, so ``except NotFoundError`` works as on the server;
:class:`ClientConnectionError` means the server was not reached. The SDK depends on httpx and pydantic only:
importing it loads no server module.
"""

from __future__ import annotations

from imgsrc.client.client import AsyncClient, Client
from imgsrc.client.config import DEFAULT_URL
from imgsrc.client.errors import (
    ClientConnectionError,
    ConfigurationError,
    JobFailedError,
    JobTimeoutError,
    UnexpectedResponseError,
)
from imgsrc.client.image_calls import ImportProgress
from imgsrc.client.multipart import UploadProgress
from imgsrc.client.query import Page
from imgsrc.errors import (
    AuthInvalidError,
    ImgsrcError,
    InvalidArgumentError,
    InvalidStateError,
    MissingArgumentError,
    NotFoundError,
    NotReadyError,
    PermissionsError,
    WrongHubError,
)
from imgsrc.hubs.schemas import ApiKey, CreatedHub, Hub, Role
from imgsrc.images.schemas import BuildLog, Image, ImageBuild, ImageOverride
from imgsrc.jobs.schemas import Job, JobDescriptor
from imgsrc.sources.schemas import ACL, CreateImageSourceRequest, ImageSource, UpdateImageSourceRequest

__all__ = [
    "ACL",
    "DEFAULT_URL",
    "ApiKey",
    "AsyncClient",
    "AuthInvalidError",
    "BuildLog",
    "Client",
    "ClientConnectionError",
    "ConfigurationError",
    "CreateImageSourceRequest",
    "CreatedHub",
    "Hub",
    "Image",
    "ImageBuild",
    "ImageOverride",
    "ImageSource",
    "ImgsrcError",
    "ImportProgress",
    "InvalidArgumentError",
    "InvalidStateError",
    "Job",
    "JobDescriptor",
    "JobFailedError",
    "JobTimeoutError",
    "MissingArgumentError",
    "NotFoundError",
    "NotReadyError",
    "Page",
    "PermissionsError",
    "Role",
    "UnexpectedResponseError",
    "UpdateImageSourceRequest",
    "UploadProgress",
    "WrongHubError",
]
