"""Uploads of image archives (cycle-upload sources): ``POST /v1/images/{id}/upload?hub-id=…&token=…``.

The upload token (issued when the image was created, stored as its sha256) is the only credential: no API key.
It is checked and consumed before a byte of the body is read — one conditional UPDATE clears the hash and moves
the image to ``uploading``, so a second request with the same token fails even while the first still runs.
Refusals change nothing: an image of another hub (or none) is a 404 ``404.image``; a wrong token a 401
``401.auth-invalid``; an expired one a 401 ``401.auth-expired``; a token already used a 403 ``403.invalid-state``
(once the hash is cleared any token gets that answer: a used token and a wrong one can no longer be told apart,
and both are refused). A declared ``Content-Length`` over ``upload_max_bytes`` is refused the same way, before
the token is spent.

The body is ``multipart/form-data`` with the archive in the part ``file.tar``: a ``docker save`` archive or an OCI
image-layout tar, plain or gzip. It is parsed as it arrives and the file part is fed through a bounded pipe to
:func:`~imgsrc.archives.read_image_archive` running in a thread — one pass; the archive is never written whole
to disk, only its blobs, each under its digest, in a staging directory under ``<data_dir>/work``. Then the image
is verified and saved like any import (:func:`~imgsrc.jobs.local_image.save_local_image`) and the answer is the
live image. Any failure — a truncated, malformed or hostile archive, a lying manifest, the size or entry limit
(422 ``422.max-exceeded``), a client that goes away — returns the image to ``new`` with ``state.error`` (the
token stays spent: create a new image to try again), stores nothing and removes the staging directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from sqlalchemy import update

from imgsrc.api.deps import RuntimeDep
from imgsrc.api.responses import ERROR_RESPONSES, Envelope, respond
from imgsrc.archives import UploadLimits
from imgsrc.db import Database
from imgsrc.errors import (
    ArchiveError,
    AuthExpiredError,
    AuthInvalidError,
    ImgsrcError,
    InvalidArgumentError,
    InvalidStateError,
    MaxExceededError,
    NotFoundError,
)
from imgsrc.ids import is_id
from imgsrc.images import records
from imgsrc.images.models import ImageRow
from imgsrc.images.schemas import Image
from imgsrc.images.service import hash_token, image_wire
from imgsrc.images.upload_body import FILE_FIELD, multipart_boundary, receive_archive
from imgsrc.jobs.local_image import remove_work_directory, save_local_image, work_directory
from imgsrc.jobs.pipeline import ImportRun, PipelineDeps, human_bytes
from imgsrc.runtime import Runtime
from imgsrc.wire import utcnow

__all__ = ["claim_upload", "receive_upload", "router"]

_MULTIPART_SLACK = 1024 * 1024  # Content-Length beyond the archive limit by more than this: refused outright


# --- the token ---------------------------------------------------------------------------------------------------


def claim_upload(
    db: Database, image_id: str, hub_id: str, token: str, *, declared_bytes: int | None, max_bytes: int
) -> None:
    """Check the upload token of the image and spend it, moving the image to ``uploading`` (see the module
    docstring for the answers). Blocking."""
    now = utcnow()
    with db.session() as session:
        row = session.get(ImageRow, image_id) if is_id(image_id) else None
        if row is None or row.hub_id != hub_id:
            raise NotFoundError("image not found", code="404.image")
        if row.origin_type != "cycle-upload":
            raise InvalidArgumentError(f"images of `{row.origin_type}` sources are imported, not uploaded")
        if row.state in ("deleting", "deleted"):
            raise InvalidStateError(f"the image is {row.state}")
        spent = row.upload_token_hash
        if spent is None:
            raise InvalidStateError("the upload token of this image has been used: an image is uploaded once")
        if not hmac.compare_digest(hash_token(token), spent):
            raise AuthInvalidError("the upload token is not valid for this image")
        if row.upload_expires is None or row.upload_expires <= now:
            raise AuthExpiredError("the upload token has expired")
        if declared_bytes is not None and declared_bytes > max_bytes + _MULTIPART_SLACK:
            raise MaxExceededError(f"the upload may be at most {max_bytes} bytes", source=f"/{FILE_FIELD}")
        result = session.execute(
            update(ImageRow)
            .where(ImageRow.id == image_id, ImageRow.upload_token_hash == spent, ImageRow.state == "new")
            .values(
                upload_token_hash=None,
                state="uploading",
                state_changed=now,
                updated_at=now,
                error_message=None,
                error_time=None,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise InvalidStateError("the upload token of this image has been used: an image is uploaded once")


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length", "").strip()
    return int(value) if value.isdigit() else None


class _UploadContext:
    """The :class:`~imgsrc.jobs.context.JobContext` of an upload, which runs in its HTTP request rather than as
    a job: steps and progress go to the build log only."""

    def __init__(self, image_id: str, hub_id: str) -> None:
        self.job_id = "upload"
        self.hub_id = hub_id
        self.action = "upload"
        self.input: dict[str, Any] = {"image_id": image_id}
        self.attempt = 1
        self.cancel_reason: str | None = None

    @contextlib.asynccontextmanager
    async def step(self, caption: str, description: str = "") -> AsyncIterator[None]:
        yield

    async def progress(self, *, flush: bool = False, **values: Any) -> None:
        return None

    async def run_sync(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(function, *args, **kwargs)


HEARTBEAT_SECONDS = 30.0
"""How often a running upload shows it is alive; workers fail uploads silent for much longer (see
:func:`imgsrc.images.records.sweep_interrupted_uploads`)."""


async def _heartbeat(runtime: Runtime, image_id: str) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        with contextlib.suppress(ImgsrcError):
            await asyncio.to_thread(records.touch_image, runtime.db, image_id)


async def receive_upload(runtime: Runtime, request: Request, image_id: str, hub_id: str, token: str) -> Image:
    """Take the upload of ``request`` for the image (see the module docstring); return the live image."""
    settings = runtime.settings
    boundary = multipart_boundary(request.headers.get("content-type", ""))
    declared = _declared_length(request)
    await asyncio.to_thread(
        claim_upload,
        runtime.db,
        image_id,
        hub_id,
        token,
        declared_bytes=declared,
        max_bytes=settings.upload_max_bytes,
    )
    deps = PipelineDeps(settings, runtime.db, runtime.vault, runtime.store, runtime.external)
    run = ImportRun(_UploadContext(image_id, hub_id), deps, image_id, hub_id)
    staging: Path | None = None
    alive = asyncio.create_task(_heartbeat(runtime, image_id))
    try:
        staging = await asyncio.to_thread(work_directory, settings, "upload", image_id)
        await asyncio.to_thread(records.reset_log, runtime.db, image_id)
        size = f" of {human_bytes(declared)}" if declared is not None else ""
        await run.log(f"upload{size} of image {image_id}")
        started = time.monotonic()
        limits = UploadLimits(settings.upload_max_bytes, settings.upload_max_entries, settings.max_manifest_bytes)
        image, received = await receive_archive(
            request,
            boundary,
            staging / "archive",
            limits,
            platform=settings.default_platform,
            keep_index=settings.import_all_platforms,
        )
        seconds = max(time.monotonic() - started, 1e-6)
        tags = f"; tagged {', '.join(image.tags[:5])}" if image.tags else ""
        await run.log(
            f"received {human_bytes(received)} in {seconds:.2f}s ({human_bytes(received / seconds)}/s): "
            f"{image.source_format}, {len(image.layers)} layer(s), {human_bytes(image.size)}{tags}"
        )
        await save_local_image(run, image, reference=image.tags[0] if image.tags else None)
    except asyncio.CancelledError:
        await run.fail(ArchiveError("the upload was interrupted (the server is stopping)"))
        raise
    except BaseException as exc:
        await run.fail(exc)
        raise
    finally:
        alive.cancel()
        if staging is not None:
            await remove_work_directory(staging)

    def live() -> Image:
        with runtime.db.session() as session:
            return image_wire(session.get_one(ImageRow, image_id))

    return await asyncio.to_thread(live)


# --- the route ---------------------------------------------------------------------------------------------------

router = APIRouter(prefix="/v1/images", tags=["images"], responses=ERROR_RESPONSES)

_UPLOAD_BODY = {
    "security": [],  # the upload token in the query authorises the call, not an API key
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {FILE_FIELD: {"type": "string", "format": "binary"}},
                }
            }
        },
    },
}


@router.post(
    "/{image_id}/upload",
    summary="Upload the image's archive (cycle-upload sources)",
    description="A `docker save` archive or an OCI image-layout tar, plain or gzip, in the multipart part "
    "`file.tar`. Authorised by the image's one-time upload token, not an API key.",
    response_model=Envelope[Image],
    openapi_extra=_UPLOAD_BODY,
)
async def upload_image(
    request: Request,
    runtime: RuntimeDep,
    image_id: Annotated[str, PathParam(max_length=64)],
    hub_id: Annotated[str, Query(alias="hub-id", max_length=64)],
    token: Annotated[str, Query(max_length=1024)],
) -> Response:
    return respond(await receive_upload(runtime, request, image_id, hub_id, token))
