"""``client.images``: images (``/v1/images``): list, read, create, rename, delete, import (with progress), prune,
build logs, uploads and pull references.

The calls are described once (:mod:`imgsrc.client.image_calls`, pure); :class:`Images` sends them, and
:class:`~imgsrc.client.images_async.AsyncImages` is the same namespace for asyncio.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from imgsrc.client.http import SyncHttp
from imgsrc.client.image_calls import (
    ImageCalls,
    ImageRef,
    ImportProgress,
    guard_http_logs,
    image_id_of,
    pull_reference,
    upload_target,
)
from imgsrc.client.jobs import TRANSIENT, JobRef, Jobs
from imgsrc.client.multipart import MultipartFile, OnUpload, UploadFile
from imgsrc.client.query import Page, Values, next_page
from imgsrc.images.schemas import BuildLog, Image, ImageBuild, ImageOverride
from imgsrc.jobs.schemas import Job, JobDescriptor

__all__ = ["CONNECT_TIMEOUT", "ITER_PAGE_SIZE", "Images", "OnImportProgress"]

ITER_PAGE_SIZE = 100
CONNECT_TIMEOUT = 30.0
OnImportProgress = Callable[[ImportProgress], object]


class Images:
    """Images of the client's hub. Every method raises the project's errors as the server answers them
    (``NotFoundError`` with code ``404.image``, ``InvalidStateError`` for an image being deleted…)."""

    def __init__(self, http: SyncHttp) -> None:
        self._http = http
        self._jobs = Jobs(http)

    def list(
        self,
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
    ) -> Page[Image]:
        """One page of images, newest first unless ``sort`` says otherwise (deleted ones only when ``state`` asks).
        ``source_id`` and ``identifier`` filter by source (ID, or source identifier); ``source_type`` by origin type
        (``docker-hub``…); ``search`` looks in image and source names; ``include="sources"`` fills
        ``Page.includes``."""
        call = ImageCalls.list(
            source_id=source_id,
            identifier=identifier,
            search=search,
            state=state,
            source_type=source_type,
            sort=sort,
            page=page,
            page_size=page_size,
            include=include,
        )
        return self._http.run(call)

    def iter(
        self,
        *,
        source_id: Values = None,
        identifier: Values = None,
        search: str | None = None,
        state: Values = None,
        source_type: Values = None,
        sort: Values = None,
        page_size: int = ITER_PAGE_SIZE,
    ) -> Iterator[Image]:
        """Every matching image, fetching page after page as the iteration proceeds."""
        number: int | None = 1
        seen = 0
        while number is not None:
            call = ImageCalls.list(
                source_id=source_id,
                identifier=identifier,
                search=search,
                state=state,
                source_type=source_type,
                sort=sort,
                page=number,
                page_size=page_size,
            )
            batch = self._http.run(call)
            seen += len(batch)
            yield from batch
            number = next_page(number, len(batch), page_size, seen, batch.total)

    def get(self, image: ImageRef, *, include: Values = None) -> Image:
        """An image by ID (``include="sources"`` adds its source to the answer's includes, which this drops)."""
        return self._http.run(ImageCalls.get(image, include=include))

    def create(
        self,
        source_id: str,
        *,
        name: str | None = None,
        build: ImageBuild | Mapping[str, Any] | None = None,
        override: ImageOverride | Mapping[str, Any] | None = None,
    ) -> Image:
        """A new image (state ``new``) of a source given by ID or identifier. ``build`` (``{"args": {...},
        "use_disk": bool}``) applies to docker-file sources, ``override`` (``{"target": ...}`` or
        ``{"targz_url": ...}``) replaces the source's target for this image. Then :meth:`import_` it, or
        :meth:`upload` it for a cycle-upload source: the answer holds its one-time upload token, shown only here."""
        return self._http.run(ImageCalls.create(source_id, name=name, build_options=build, override=override))

    def rename(self, image: ImageRef, name: str) -> Image:
        return self._http.run(ImageCalls.rename(image, name))

    def delete(self, image: ImageRef) -> JobDescriptor:
        """Start deleting the image (a running import is cancelled); follow the job with ``client.jobs.wait``."""
        return self._http.run(ImageCalls.delete(image))

    def start_import(self, image: ImageRef) -> JobDescriptor:
        """Queue the import (or build) of a ``new`` image and return at once; see :meth:`import_` to wait."""
        return self._http.run(ImageCalls.start_import(image))

    def import_(
        self,
        image: ImageRef,
        *,
        wait: bool = True,
        timeout: float | None = None,
        poll: float = 2.0,
        on_progress: OnImportProgress | None = None,
    ) -> Image:
        """Import (or build) a ``new`` image and return it ``live``.

        Polls every ``poll`` seconds, calling ``on_progress`` with each reading (job step, bytes and layers, image
        state). Raises ``JobFailedError`` with the job's message if the import fails (the image returns to ``new``
        with the error recorded; its build log says more), ``JobTimeoutError`` after ``timeout`` seconds (the import
        goes on). ``wait=False`` returns the image as soon as the import is queued."""
        descriptor = self.start_import(image)
        if not wait:
            return self.get(image_id_of(image))
        return self.wait_import(image, descriptor, timeout=timeout, poll=poll, on_progress=on_progress)

    def wait_import(
        self,
        image: ImageRef,
        job: JobRef,
        *,
        timeout: float | None = None,
        poll: float = 2.0,
        on_progress: OnImportProgress | None = None,
    ) -> Image:
        """Follow an import started by :meth:`start_import` (``job``: its descriptor, the job or its ID) until the
        image is live, and return it; raises as :meth:`import_` does. Stopping the wait (an exception in
        ``on_progress``, ``KeyboardInterrupt``) leaves the import running."""
        image_id = image_id_of(image)
        last: list[Image] = []

        def update(current: Job) -> None:
            if on_progress is None:
                return
            with contextlib.suppress(*TRANSIENT):  # show the previous reading; the wait rides out a few of these
                last[:] = [self.get(image_id)]
            on_progress(ImportProgress(current, last[0] if last else None))

        self._jobs.wait(job, timeout=timeout, poll=poll, on_update=update)
        return self.get(image_id)

    def prune(self, source_ids: str | Sequence[str]) -> JobDescriptor:
        """Start deleting the images of these sources (IDs or identifiers) that are older than 15 minutes, except
        each source's newest live image."""
        return self._http.run(ImageCalls.prune(source_ids))

    def build_log(self, image: ImageRef) -> BuildLog:
        """The factory's account of the image's import or build; ``NotFoundError`` (``404.image.build-log``)
        before one has started."""
        return self._http.run(ImageCalls.build_log(image))

    def upload(
        self,
        image: ImageRef,
        file: UploadFile,
        *,
        token: str | None = None,
        hub_id: str | None = None,
        on_progress: OnUpload | None = None,
        timeout: float | None = None,
    ) -> Image:
        """Upload the image's archive (a ``docker save`` tar or an OCI image-layout tar, plain or gzip) and return
        the image ``live``.

        ``image`` is best the image exactly as :meth:`create` answered it: its one-time token and hub are taken
        from it; given an ID, pass ``token``. ``file`` is a path or a binary file object (read from its current
        position, left open). The file is streamed: memory stays flat whatever its size. ``on_progress`` is called
        with an ``UploadProgress`` after each chunk. ``timeout`` bounds the wait for the answer after the last byte
        (the server verifies and stores the image meanwhile; ``None``: as long as it takes). The token is sent once;
        it appears in no message and no log line."""
        target = upload_target(image, token=token, hub_id=hub_id, default_hub=self._http.connection.hub_id)
        body = MultipartFile(file, on_progress=on_progress)
        guard_http_logs()
        call = ImageCalls.upload(target, body.headers, timeout=timeout, connect=CONNECT_TIMEOUT)
        return self._http.run(call, content=body.chunks())

    def pull_ref(self, image: ImageRef) -> str:
        """``<host[:port]>/<hub id>/<source id>:<image id>``: where ``skopeo``, ``podman`` or ``crane`` pull the
        image once it is live (authenticating with any user name and an API key as the password). Given an ID,
        the image is read first."""
        found = image if isinstance(image, Image) else self.get(image)
        return pull_reference(self._http.connection.base_url, found)
