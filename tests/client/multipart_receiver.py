"""A scripted upload endpoint: it reads the request body as a stream (never all at once), parses it with
python-multipart's streaming parser, and records what arrived; then it answers like the server's upload endpoint.

``httpx.MockTransport`` reads every request body into memory before calling its handler, which would hide the very
thing upload tests check (that the body streams); :class:`StreamingTransport` hands the request over unread."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from python_multipart import MultipartParser

from tests.client.conftest import image_document

_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass
class Part:
    headers: dict[str, str] = field(default_factory=dict)
    size: int = 0
    digest: Any = field(default_factory=hashlib.sha256)

    @property
    def disposition(self) -> dict[str, str]:
        return dict(_PARAM.findall(self.headers.get("content-disposition", "")))

    @property
    def sha256(self) -> str:
        return "sha256:" + str(self.digest.hexdigest())


@dataclass
class Received:
    """One request as it arrived: its URL, headers, the parts of its body and how the body came."""

    request: httpx.Request
    parts: list[Part]
    body_bytes: int
    largest_chunk: int
    finished: bool  # the parser saw the closing boundary


class StreamingTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """``httpx.MockTransport`` without the up-front ``request.read()``: the handler consumes the body stream."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]) -> None:
        self.handler = handler

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.handler(request)
        assert isinstance(response, httpx.Response), "use an async handler with the AsyncClient"
        return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = self.handler(request)
        return response if isinstance(response, httpx.Response) else await response


class Receiver:
    """``Receiver(status, document)``: every upload is recorded in ``received`` and answered ``status`` with
    ``document`` (default: a live image; a callable makes it from the request). ``hash_data=False`` only counts
    bytes (for very large bodies)."""

    def __init__(self, status: int = 200, document: Any = None, *, hash_data: bool = True) -> None:
        self.status = status
        self.document = document if document is not None else {"data": image_document("live")}
        self.hash_data = hash_data
        self.received: list[Received] = []

    def _parser(self, request: httpx.Request) -> tuple[MultipartParser, list[Part], list[bool]]:
        boundary = request.headers["content-type"].split("boundary=", 1)[1]
        parts: list[Part] = []
        header: list[bytes] = [b"", b""]
        finished = [False]

        def on_part_begin() -> None:
            parts.append(Part())

        def on_header_field(data: bytes, start: int, end: int) -> None:
            header[0] += data[start:end]

        def on_header_value(data: bytes, start: int, end: int) -> None:
            header[1] += data[start:end]

        def on_header_end() -> None:
            parts[-1].headers[header[0].decode().lower()] = header[1].decode()
            header[:] = [b"", b""]

        def on_part_data(data: bytes, start: int, end: int) -> None:
            parts[-1].size += end - start
            if self.hash_data:
                parts[-1].digest.update(memoryview(data)[start:end])

        def on_end() -> None:
            finished[0] = True

        callbacks: Any = {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_end": on_end,
        }
        return MultipartParser(boundary, callbacks), parts, finished

    def _answer(self, request: httpx.Request, chunks: Iterable[bytes]) -> httpx.Response:
        parser, parts, finished = self._parser(request)
        total = largest = 0
        for chunk in chunks:
            total += len(chunk)
            largest = max(largest, len(chunk))
            parser.write(chunk)
        parser.finalize()
        self.received.append(Received(request, parts, total, largest, finished[0]))
        document = self.document(request) if callable(self.document) else self.document
        return httpx.Response(self.status, json=document)

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, Iterable)
        return self._answer(request, request.stream)

    async def ahandle(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, AsyncIterable)
        chunks = [chunk async for chunk in request.stream]  # small bodies only in async tests
        return self._answer(request, chunks)

    @property
    def transport(self) -> StreamingTransport:
        return StreamingTransport(self.handle)

    @property
    def async_transport(self) -> StreamingTransport:
        return StreamingTransport(self.ahandle)

    @property
    def last(self) -> Received:
        return self.received[-1]
