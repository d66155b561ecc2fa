"""``client.sources``: image sources (``/v1/images/sources``).

The calls are described once (:class:`SourceCalls`, pure); :class:`Sources` and :class:`AsyncSources` send them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from imgsrc.client.bodies import body_of, build, segment
from imgsrc.client.http import AsyncHttp, Call, SyncHttp, many, one
from imgsrc.client.query import Page, Values, list_params, next_page
from imgsrc.jobs.schemas import JobDescriptor
from imgsrc.sources.schemas import (
    ACL,
    CreateImageSourceRequest,
    ImageSource,
    UpdateImageSourceAccessRequest,
    UpdateImageSourceRequest,
)

__all__ = ["AsyncSources", "SourceCalls", "Sources"]

PATH = "/v1/images/sources"
ITER_PAGE_SIZE = 100


class SourceCalls:
    """Descriptions of the image source calls (no I/O)."""

    @staticmethod
    def list(
        *,
        search: str | None = None,
        identifier: Values = None,
        state: Values = None,
        sort: Values = None,
        page: int | None = None,
        page_size: int | None = None,
        meta: Values = None,
        include: Values = None,
    ) -> Call[Page[ImageSource]]:
        params = list_params(
            filters={"search": search, "identifier": identifier, "state": state},
            sort=sort,
            page=page,
            page_size=page_size,
            include=include,
            meta=meta,
        )
        return Call("GET", PATH, many(ImageSource), params=params)

    @staticmethod
    def get(source: str, *, meta: Values = None, include: Values = None) -> Call[ImageSource]:
        params = list_params(meta=meta, include=include)
        return Call("GET", f"{PATH}/{segment(source)}", one(ImageSource), params=params)

    @staticmethod
    def create(request: CreateImageSourceRequest | None, fields: Mapping[str, Any]) -> Call[ImageSource]:
        if request is not None and fields:
            raise TypeError("pass either a CreateImageSourceRequest or keyword fields, not both")
        if request is None:
            request = build(CreateImageSourceRequest, {"type": "direct", **fields})
        return Call("POST", PATH, one(ImageSource), body=body_of(request))

    @staticmethod
    def update(source: str, request: UpdateImageSourceRequest | None, fields: Mapping[str, Any]) -> Call[ImageSource]:
        if request is not None and fields:
            raise TypeError("pass either an UpdateImageSourceRequest or keyword fields, not both")
        if request is None:
            request = build(UpdateImageSourceRequest, fields)
        return Call("PATCH", f"{PATH}/{segment(source)}", one(ImageSource), body=body_of(request))

    @staticmethod
    def update_access(source: str, acl: ACL | Mapping[str, Any] | None) -> Call[ImageSource]:
        request = build(UpdateImageSourceAccessRequest, {"acl": acl})
        return Call("PATCH", f"{PATH}/{segment(source)}/access", one(ImageSource), body=request.model_dump(mode="json"))

    @staticmethod
    def delete(source: str) -> Call[JobDescriptor]:
        return Call("DELETE", f"{PATH}/{segment(source)}", one(JobDescriptor))


class Sources:
    """Image sources of the client's hub. Every method raises the project's errors (``NotFoundError`` with code
    ``404.image.source``, ``PermissionsError``…) as the server answers them."""

    def __init__(self, http: SyncHttp) -> None:
        self._http = http

    def list(
        self,
        *,
        search: str | None = None,
        identifier: Values = None,
        state: Values = None,
        sort: Values = None,
        page: int | None = None,
        page_size: int | None = None,
        meta: Values = None,
        include: Values = None,
    ) -> Page[ImageSource]:
        """One page of sources (deleted ones only when ``state`` asks for them). ``sort`` like ``["name", "-id"]``;
        ``meta="images_count"`` fills ``meta.images_count``; ``include="creators"`` fills ``Page.includes``."""
        call = SourceCalls.list(
            search=search,
            identifier=identifier,
            state=state,
            sort=sort,
            page=page,
            page_size=page_size,
            meta=meta,
            include=include,
        )
        return self._http.run(call)

    def iter(
        self,
        *,
        search: str | None = None,
        identifier: Values = None,
        state: Values = None,
        sort: Values = None,
        page_size: int = ITER_PAGE_SIZE,
        meta: Values = None,
    ) -> Iterator[ImageSource]:
        """Every matching source, fetching page after page as the iteration proceeds."""
        number: int | None = 1
        seen = 0
        while number is not None:
            call = SourceCalls.list(
                search=search,
                identifier=identifier,
                state=state,
                sort=sort,
                page=number,
                page_size=page_size,
                meta=meta,
            )
            batch = self._http.run(call)
            seen += len(batch)
            yield from batch
            number = next_page(number, len(batch), page_size, seen, batch.total)

    def get(self, source: str, *, meta: Values = None, include: Values = None) -> ImageSource:
        """A source by ID or identifier (a 24-hex string is tried as an ID first)."""
        return self._http.run(SourceCalls.get(source, meta=meta, include=include))

    def create(self, request: CreateImageSourceRequest | None = None, /, **fields: Any) -> ImageSource:
        """Create a source from a request model or from its fields (``type`` defaults to ``"direct"``;
        ``origin`` as a model or a plain dict). Secrets in the origin are sent once and answered masked."""
        return self._http.run(SourceCalls.create(request, fields))

    def update(self, source: str, request: UpdateImageSourceRequest | None = None, /, **fields: Any) -> ImageSource:
        """Change only the given fields (``name``, ``identifier``, ``origin``, ``builder``, ``about``). In a new
        origin, a secret left out or sent as the mask keeps its stored value."""
        return self._http.run(SourceCalls.update(source, request, fields))

    def update_access(self, source: str, acl: ACL | Mapping[str, Any] | None) -> ImageSource:
        """Replace the source's ACL (``{"roles": {role_id: {"view", "modify", "manage"}}}``); ``None`` removes
        it."""
        return self._http.run(SourceCalls.update_access(source, acl))

    def delete(self, source: str) -> JobDescriptor:
        """Start deleting the source; follow the returned job with ``client.jobs.wait(descriptor)``."""
        return self._http.run(SourceCalls.delete(source))


class AsyncSources:
    """:class:`Sources`, asynchronously: the same methods, awaited (``iter`` is an async iterator)."""

    def __init__(self, http: AsyncHttp) -> None:
        self._http = http

    async def list(
        self,
        *,
        search: str | None = None,
        identifier: Values = None,
        state: Values = None,
        sort: Values = None,
        page: int | None = None,
        page_size: int | None = None,
        meta: Values = None,
        include: Values = None,
    ) -> Page[ImageSource]:
        """See :meth:`Sources.list`."""
        call = SourceCalls.list(
            search=search,
            identifier=identifier,
            state=state,
            sort=sort,
            page=page,
            page_size=page_size,
            meta=meta,
            include=include,
        )
        return await self._http.run(call)

    async def iter(
        self,
        *,
        search: str | None = None,
        identifier: Values = None,
        state: Values = None,
        sort: Values = None,
        page_size: int = ITER_PAGE_SIZE,
        meta: Values = None,
    ) -> AsyncIterator[ImageSource]:
        """See :meth:`Sources.iter`."""
        number: int | None = 1
        seen = 0
        while number is not None:
            call = SourceCalls.list(
                search=search,
                identifier=identifier,
                state=state,
                sort=sort,
                page=number,
                page_size=page_size,
                meta=meta,
            )
            batch = await self._http.run(call)
            seen += len(batch)
            for item in batch:
                yield item
            number = next_page(number, len(batch), page_size, seen, batch.total)

    async def get(self, source: str, *, meta: Values = None, include: Values = None) -> ImageSource:
        """See :meth:`Sources.get`."""
        return await self._http.run(SourceCalls.get(source, meta=meta, include=include))

    async def create(self, request: CreateImageSourceRequest | None = None, /, **fields: Any) -> ImageSource:
        """See :meth:`Sources.create`."""
        return await self._http.run(SourceCalls.create(request, fields))

    async def update(
        self, source: str, request: UpdateImageSourceRequest | None = None, /, **fields: Any
    ) -> ImageSource:
        """See :meth:`Sources.update`."""
        return await self._http.run(SourceCalls.update(source, request, fields))

    async def update_access(self, source: str, acl: ACL | Mapping[str, Any] | None) -> ImageSource:
        """See :meth:`Sources.update_access`."""
        return await self._http.run(SourceCalls.update_access(source, acl))

    async def delete(self, source: str) -> JobDescriptor:
        """See :meth:`Sources.delete`."""
        return await self._http.run(SourceCalls.delete(source))
