"""Blob bodies streamed from an open file: exactly the slice asked for, no body for HEAD, a prompt stop when the
client goes away, and the file closed however the answer ends."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from imgsrc.api.v2.streaming import FileSliceResponse
from imgsrc.errors import IntegrityError

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Client:
    """The ASGI side of one request: records what was sent; ``disconnect_after`` body messages, it leaves."""

    def __init__(self, disconnect_after: int | None = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self.disconnect_after = disconnect_after
        self.gone = anyio.Event()

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        bodies = [m for m in self.messages if m["type"] == "http.response.body"]
        if self.disconnect_after is not None and len(bodies) >= self.disconnect_after:
            self.gone.set()

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages if m["type"] == "http.response.body")

    @property
    def headers(self) -> dict[str, str]:
        start = self.messages[0]
        return {k.decode(): v.decode() for k, v in start["headers"]}


DATA = os.urandom(5 * 1024 + 7)


@pytest.fixture
def blob(tmp_path: Path) -> Path:
    path = tmp_path / "blob"
    path.write_bytes(DATA)
    return path


async def test_the_slice_asked_for_is_sent_in_chunks_with_its_length(blob: Path) -> None:
    client = Client()
    file = blob.open("rb")
    response = FileSliceResponse(file, start=100, length=3000, status_code=206, chunk_size=1024)
    await response({"type": "http", "method": "GET"}, client.receive, client.send)
    assert client.messages[0]["status"] == 206
    assert client.headers["content-length"] == "3000"
    assert client.body == DATA[100:3100]
    assert len([m for m in client.messages if m["type"] == "http.response.body"]) == 3
    assert client.messages[-1]["more_body"] is False
    assert file.closed


async def test_head_sends_the_headers_and_no_body(blob: Path) -> None:
    client = Client()
    file = blob.open("rb")
    await FileSliceResponse(file, start=0, length=len(DATA))(
        {"type": "http", "method": "HEAD"}, client.receive, client.send
    )
    assert client.headers["content-length"] == str(len(DATA))
    assert client.body == b""
    assert file.closed


async def test_a_client_that_goes_away_stops_the_transfer_and_the_file_is_closed(blob: Path) -> None:
    client = Client(disconnect_after=1)
    file = blob.open("rb")
    response = FileSliceResponse(file, start=0, length=len(DATA), chunk_size=512)
    await response({"type": "http", "method": "GET"}, client.receive, client.send)
    sent = len(client.body)
    assert 0 < sent < len(DATA)
    assert file.closed


async def test_a_blob_shorter_than_recorded_breaks_the_answer_instead_of_ending_it_cleanly(blob: Path) -> None:
    client = Client()
    file = blob.open("rb")
    response = FileSliceResponse(file, start=0, length=len(DATA) + 10, chunk_size=4096)
    with pytest.raises(IntegrityError, match="before its recorded size"):
        await response({"type": "http", "method": "GET"}, client.receive, client.send)
    assert all(m.get("more_body", True) for m in client.messages if m["type"] == "http.response.body")
    assert file.closed
