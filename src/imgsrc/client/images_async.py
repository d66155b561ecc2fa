"""``AsyncClient.images``: :class:`~imgsrc.client.images.Images` for asyncio, the same methods awaited."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

from imgsrc.client.http import AsyncHttp
from imgsrc.client.image_calls import (
    ImageCalls,
    ImageRef,
    ImportProgress,
    guard_http_logs,
    image_id_of,
    pull_reference,
    upload_target,
)
from imgsrc.client.images import CONNECT_TIMEOUT, ITER_PAGE_SIZE
from imgsrc.client.jobs import TRANSIENT, AsyncJobs, JobRef
from imgsrc.client.multipart import MultipartFile, OnUploadAsync, UploadFile
from imgsrc.client.query import Page, Values, next_page
from imgsrc.images.schemas import BuildLog, Image, ImageBuild, ImageOverride
from imgsrc.jobs.schemas import Job, JobDescriptor

__all__ = ["AsyncImages", "OnImportProgressAsync"]

OnImportProgressAsync = Callable[[ImportProgress], object | Awaitable[object]]


class AsyncImages:
    """:class:`~imgsrc.client.images.Images`, asynchronously (``iter`` is an async iterator; progress callbacks
    may be plain functions or coroutine functions; uploads read the file in a worker thread)."""

    def __init__(self, http: AsyncHttp) -> None:
        self._http = http
        self._jobs = AsyncJobs(http)

    async def list(
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
        """See :meth:`Images.list`."""
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
        return await self._http.run(call)

    async def iter(
        self,
        *,
        source_id: Values = None,
        identifier: Values = None,
        search: str | None = None,
        state: Values = None,
        source_type: Values = None,
        sort: Values = None,
        page_size: int = ITER_PAGE_SIZE,
    ) -> AsyncIterator[Image]:
        """See :meth:`Images.iter`."""
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
            batch = await self._http.run(call)
            seen += len(batch)
            for item in batch:
                yield item
            number = next_page(number, len(batch), page_size, seen, batch.total)

    async def get(self, image: ImageRef, *, include: Values = None) -> Image:
        """See :meth:`Images.get`."""
        return await self._http.run(ImageCalls.get(image, include=include))

    async def create(
        self,
        source_id: str,
        *,
        name: str | None = None,
        build: ImageBuild | Mapping[str, Any] | None = None,
        override: ImageOverride | Mapping[str, Any] | None = None,
    ) -> Image:
        """See :meth:`Images.create`."""
        return await self._http.run(ImageCalls.create(source_id, name=name, build_options=build, override=override))

    async def rename(self, image: ImageRef, name: str) -> Image:
        """See :meth:`Images.rename`."""
        return await self._http.run(ImageCalls.rename(image, name))

    async def delete(self, image: ImageRef) -> JobDescriptor:
        """See :meth:`Images.delete`."""
        return await self._http.run(ImageCalls.delete(image))

    async def start_import(self, image: ImageRef) -> JobDescriptor:
        """See :meth:`Images.start_import`."""
        return await self._http.run(ImageCalls.start_import(image))

    async def import_(
        self,
        image: ImageRef,
        *,
        wait: bool = True,
        # Same signature as Images.import_ on purpose (one API, sync or async).
        timeout: float | None = None,  # noqa: ASYNC109
        poll: float = 2.0,
        on_progress: OnImportProgressAsync | None = None,
    ) -> Image:
        """See :meth:`Images.import_`."""
        descriptor = await self.start_import(image)
        if not wait:
            return await self.get(image_id_of(image))
        return await self.wait_import(image, descriptor, timeout=timeout, poll=poll, on_progress=on_progress)

    async def wait_import(
        self,
        image: ImageRef,
        job: JobRef,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - as in Images.wait_import
        poll: float = 2.0,
        on_progress: OnImportProgressAsync | None = None,
    ) -> Image:
        """See :meth:`Images.wait_import`."""
        image_id = image_id_of(image)
        last: list[Image] = []

        async def update(current: Job) -> None:
            if on_progress is None:
                return
            with contextlib.suppress(*TRANSIENT):  # show the previous reading; the wait rides out a few of these
                last[:] = [await self.get(image_id)]
            result = on_progress(ImportProgress(current, last[0] if last else None))
            if inspect.isawaitable(result):
                await result

        await self._jobs.wait(job, timeout=timeout, poll=poll, on_update=update)
        return await self.get(image_id)

    async def prune(self, source_ids: str | Sequence[str]) -> JobDescriptor:
        """See :meth:`Images.prune`."""
        return await self._http.run(ImageCalls.prune(source_ids))

    async def build_log(self, image: ImageRef) -> BuildLog:
        """See :meth:`Images.build_log`."""
        return await self._http.run(ImageCalls.build_log(image))

    async def upload(
        self,
        image: ImageRef,
        file: UploadFile,
        *,
        token: str | None = None,
        hub_id: str | None = None,
        on_progress: OnUploadAsync | None = None,
        # Bounds only the wait for the answer, as in Images.upload.
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> Image:
        """See :meth:`Images.upload`."""
        target = upload_target(image, token=token, hub_id=hub_id, default_hub=self._http.connection.hub_id)
        body = MultipartFile(file, on_progress=on_progress)
        guard_http_logs()
        call = ImageCalls.upload(target, body.headers, timeout=timeout, connect=CONNECT_TIMEOUT)
        return await self._http.run(call, content=body.achunks())

    async def pull_ref(self, image: ImageRef) -> str:
        """See :meth:`Images.pull_ref`."""
        found = image if isinstance(image, Image) else await self.get(image)
        return pull_reference(self._http.connection.base_url, found)
