"""Blob bodies streamed from an open file: flat memory whatever the blob's size, a prompt stop when the client
goes away.

The file is opened by the route, before the answer starts, so that a blob removed by garbage collection in
between cannot turn into a half-sent answer (an open file stays readable after its unlink). Reads use
``os.pread`` in a worker thread, ``CHUNK_SIZE`` bytes at a time: big enough that the per-chunk cost (a thread
hop, one ASGI message) disappears next to the copy, small enough to keep memory per transfer bounded. uvicorn
has no zero-copy ``sendfile`` path for ASGI apps, so this is the sendfile-friendly equivalent available.
Measured over loopback (``bench/pull_vs_registry.py``, 2 cores): one 256 MiB blob to curl at ~2.7 GiB/s with
1 MiB chunks against ~0.55 GiB/s with the 64 KiB chunks of Starlette's ``FileResponse`` (the distribution server:
~2.5 GiB/s); server RSS unchanged while pulling 1 GiB.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import BinaryIO, Final

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from imgsrc.errors import IntegrityError

__all__ = ["CHUNK_SIZE", "FileSliceResponse"]

CHUNK_SIZE: Final = 1024 * 1024


class FileSliceResponse(Response):
    """Send ``length`` bytes of ``file`` from ``start`` (the whole answer's headers are the caller's, plus
    ``Content-Length``). The file is closed when the answer ends, however it ends. ``HEAD`` sends no body."""

    def __init__(
        self,
        file: BinaryIO,
        *,
        start: int,
        length: int,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str = "application/octet-stream",
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.file = file
        self.start = start
        self.length = length
        self.chunk_size = chunk_size
        self.status_code = status_code
        self.media_type = media_type
        self.background = None
        self.body = b""
        self.init_headers({**(headers or {}), "content-length": str(length)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            if scope.get("method", "GET").upper() == "HEAD" or self.length == 0:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            failure: Exception | None = None
            async with anyio.create_task_group() as group:

                async def stop_on_disconnect() -> None:
                    # uvicorn drops writes after a disconnect silently; only `receive` tells.
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    group.cancel_scope.cancel()

                group.start_soon(stop_on_disconnect)
                try:
                    await self._stream(send)
                except Exception as exc:  # noqa: BLE001 - re-raised below, not wrapped in an ExceptionGroup
                    failure = exc
                group.cancel_scope.cancel()
            if failure is not None:
                raise failure
        finally:
            self.file.close()

    async def _stream(self, send: Send) -> None:
        fd = self.file.fileno()
        offset, remaining = self.start, self.length
        while remaining > 0:
            chunk = await anyio.to_thread.run_sync(os.pread, fd, min(self.chunk_size, remaining), offset)
            if not chunk:
                # The blob is shorter than recorded: end the answer short, the client sees a broken transfer
                # (never a digest-valid one) and retries.
                raise IntegrityError(f"blob ended {remaining} bytes before its recorded size")
            offset += len(chunk)
            remaining -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
