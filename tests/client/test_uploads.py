"""``client.images.upload`` against a scripted endpoint on a streaming fake transport, where a test can see every
byte on the wire or script any answer (the real endpoint: ``test_uploads_live.py``): the multipart stream (one
field ``file.tar``, the file's exact bytes, declared length), credentials (token in the query, no API key),
progress, flat memory on huge files, error mapping, and no token anywhere it could leak."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import tracemalloc
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgsrc.client import (
    AsyncClient,
    AuthInvalidError,
    Client,
    ClientConnectionError,
    Image,
    InvalidArgumentError,
    MissingArgumentError,
    UploadProgress,
)
from imgsrc.client.image_calls import UploadTarget, upload_target
from imgsrc.client.multipart import CHUNK_SIZE, FIELD_NAME, MultipartFile
from imgsrc.errors import InvalidInputError, MaxExceededError
from tests.client.conftest import HUB_ID, IMAGE_ID, image_document
from tests.client.multipart_receiver import Receiver
from tests.support.archives import one_way

TOKEN = "upload-token-8c1f2e"
KEY = "imgsrc_api_key_5d9e"


def client_for(receiver: Receiver) -> Client:
    return Client("http://imgsrc.test", KEY, HUB_ID, transport=receiver.transport)


def created_image(token: str = TOKEN) -> Image:
    """The image exactly as ``create`` answers it for a cycle-upload source: holding its one-time token."""
    return Image.model_validate(image_document("new", token=token))


def archive(tmp_path: Path, size: int) -> tuple[Path, str]:
    path = tmp_path / "image.tar"
    data = os.urandom(size)
    path.write_bytes(data)
    return path, "sha256:" + hashlib.sha256(data).hexdigest()


def test_upload_streams_the_file_as_the_one_multipart_field(tmp_path: Path) -> None:
    """The body is one part named ``file.tar`` holding the file's exact bytes, sent in bounded chunks with a
    declared Content-Length that matches what arrives; the answer is the live image."""
    path, digest = archive(tmp_path, 3 * CHUNK_SIZE + 12345)
    receiver = Receiver()
    with client_for(receiver) as client:
        image = client.images.upload(created_image(), path)
    assert image.state.current == "live"
    got = receiver.last
    assert got.finished
    assert [p.disposition for p in got.parts] == [{"name": FIELD_NAME, "filename": "image.tar"}]
    assert (got.parts[0].size, got.parts[0].sha256) == (path.stat().st_size, digest)
    assert int(got.request.headers["content-length"]) == got.body_bytes
    assert "transfer-encoding" not in got.request.headers
    assert got.largest_chunk <= CHUNK_SIZE


def test_the_token_is_the_credential_not_the_api_key(tmp_path: Path) -> None:
    """``POST /v1/images/{id}/upload?hub-id=…&token=…``: the token and hub come from the created image, and the API
    key is not sent (the endpoint does not need it)."""
    path, _ = archive(tmp_path, 10)
    receiver = Receiver()
    with client_for(receiver) as client:
        client.images.upload(created_image(), path)
    request = receiver.last.request
    assert (request.method, request.url.path) == ("POST", f"/v1/images/{IMAGE_ID}/upload")
    assert dict(request.url.params) == {"hub-id": HUB_ID, "token": TOKEN}
    assert "authorization" not in request.headers
    assert KEY not in str(request.headers)


def test_an_image_id_with_an_explicit_token_and_the_clients_hub(tmp_path: Path) -> None:
    path, _ = archive(tmp_path, 10)
    receiver = Receiver()
    with client_for(receiver) as client:
        client.images.upload(IMAGE_ID, path, token="given-token")
    assert dict(receiver.last.request.url.params) == {"hub-id": HUB_ID, "token": "given-token"}


def test_without_a_token_nothing_is_sent() -> None:
    """An ID without ``token``, or an image read back later (its token masked), cannot be uploaded: refused before
    any request."""
    receiver = Receiver()
    with client_for(receiver) as client:
        with pytest.raises(MissingArgumentError):
            client.images.upload(IMAGE_ID, io.BytesIO(b"x"))
        with pytest.raises(MissingArgumentError):
            client.images.upload(created_image(token="********"), io.BytesIO(b"x"))
    assert receiver.received == []


def test_images_of_other_sources_are_not_uploaded() -> None:
    hub = {"type": "docker-hub", "details": {"target": "redis"}}
    image = Image.model_validate(image_document("new", origin=hub))
    with client_for(Receiver()) as client, pytest.raises(InvalidArgumentError, match="docker-hub"):
        client.images.upload(image, io.BytesIO(b"x"), token=TOKEN)


def test_progress_counts_every_byte_up_to_the_total(tmp_path: Path) -> None:
    path, _ = archive(tmp_path, 2 * CHUNK_SIZE + 1)
    seen: list[UploadProgress] = []
    with client_for(Receiver()) as client:
        client.images.upload(created_image(), path, on_progress=seen.append)
    sent = [p.bytes_sent for p in seen]
    assert sent == sorted(sent)
    assert (sent[0], sent[-1]) == (0, path.stat().st_size)
    assert {p.bytes_total for p in seen} == {path.stat().st_size}
    assert seen[-1].fraction == 1.0


def test_a_stream_of_unknown_size_goes_chunked_and_whole() -> None:
    """A one-way stream (a pipe, stdin) has no size: the body is sent with chunked transfer encoding, every byte
    arrives, and progress has no total."""
    data = os.urandom(CHUNK_SIZE + 777)
    receiver = Receiver()
    seen: list[UploadProgress] = []
    with client_for(receiver) as client:
        client.images.upload(created_image(), one_way(data), on_progress=seen.append)  # type: ignore[arg-type]
    got = receiver.last
    assert got.request.headers["transfer-encoding"] == "chunked"
    assert got.parts[0].sha256 == "sha256:" + hashlib.sha256(data).hexdigest()
    assert got.parts[0].disposition["filename"] == "image.tar"
    assert (seen[-1].bytes_sent, seen[-1].bytes_total, seen[-1].fraction) == (len(data), None, None)


def test_a_file_object_is_read_from_its_position_and_left_open(tmp_path: Path) -> None:
    path, _ = archive(tmp_path, 5000)
    receiver = Receiver()
    with path.open("rb") as file, client_for(receiver) as client:
        file.seek(1000)
        client.images.upload(created_image(), file)
        assert not file.closed
    expected = path.read_bytes()[1000:]
    assert receiver.last.parts[0].sha256 == "sha256:" + hashlib.sha256(expected).hexdigest()
    assert int(receiver.last.request.headers["content-length"]) == receiver.last.body_bytes


def test_a_file_that_shrinks_while_uploading_fails_instead_of_sending_a_short_body(tmp_path: Path) -> None:
    path, _ = archive(tmp_path, 3 * CHUNK_SIZE)

    def shrink(progress: UploadProgress) -> None:
        if progress.bytes_sent == CHUNK_SIZE:
            os.truncate(path, CHUNK_SIZE + 10)

    with client_for(Receiver()) as client, pytest.raises(InvalidInputError, match="changed while uploading"):
        client.images.upload(created_image(), path, on_progress=shrink)


def test_missing_files_and_directories_are_refused_clearly(tmp_path: Path) -> None:
    with client_for(Receiver()) as client:
        with pytest.raises(InvalidArgumentError, match="no file at"):
            client.images.upload(created_image(), tmp_path / "absent.tar")
        with pytest.raises(InvalidArgumentError, match="directory"):
            client.images.upload(created_image(), tmp_path)


class Zeros(io.RawIOBase):
    """A seekable read-only file of ``size`` zero bytes that never holds more than one block."""

    def __init__(self, size: int) -> None:
        self.size, self.position = size, 0
        self._block = bytes(CHUNK_SIZE)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = base + offset
        return self.position

    def read(self, size: int = -1) -> bytes:
        size = min(size if size >= 0 else self.size, self.size - self.position, len(self._block))
        self.position += size
        return self._block if size == len(self._block) else self._block[:size]


def test_memory_stays_flat_for_a_10_gib_upload() -> None:
    """A 10 GiB archive is streamed, not loaded: the SDK's peak allocation while producing and sending the whole
    body stays under a few chunks (tracemalloc), and every byte arrives."""
    size = 10 * 1024**3
    receiver = Receiver(hash_data=False)
    file = Zeros(size)
    with client_for(receiver) as client:
        tracemalloc.start()
        try:
            client.images.upload(created_image(), file)  # type: ignore[arg-type]
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert receiver.last.parts[0].size == size
    assert receiver.last.finished
    assert peak < 4 * CHUNK_SIZE, f"peak {peak / 1e6:.1f} MB"


def test_memory_stays_flat_for_a_large_sparse_file_on_disk(tmp_path: Path) -> None:
    """The same through the path API, reading a real (sparse) 512 MiB file."""
    path = tmp_path / "sparse.tar"
    with path.open("wb") as file:
        file.truncate(512 * 1024**2)
    receiver = Receiver(hash_data=False)
    with client_for(receiver) as client:
        tracemalloc.start()
        try:
            client.images.upload(created_image(), path)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert receiver.last.parts[0].size == path.stat().st_size
    assert peak < 4 * CHUNK_SIZE, f"peak {peak / 1e6:.1f} MB"


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (401, "401.auth-invalid", AuthInvalidError),
        (422, "422.invalid-input", InvalidInputError),
        (422, "422.max-exceeded", MaxExceededError),
    ],
)
def test_refusals_map_to_the_projects_errors(tmp_path: Path, status: int, code: str, kind: type[Exception]) -> None:
    path, _ = archive(tmp_path, 10)
    envelope = {"error": {"status": status, "code": code, "title": "t", "detail": "refused"}, "data": None}
    with client_for(Receiver(status, envelope)) as client, pytest.raises(kind) as caught:
        client.images.upload(created_image(), path)
    assert caught.value.code == code  # type: ignore[attr-defined]
    assert TOKEN not in repr(caught.value)


def test_a_broken_connection_names_no_token(tmp_path: Path) -> None:
    """Even when the transport's own message quotes the URL, the error carries the token masked."""
    path, _ = archive(tmp_path, 10)

    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError(f"peer closed the connection while sending {request.url}")

    transport = httpx.MockTransport(drop)
    with (
        Client("http://imgsrc.test", KEY, HUB_ID, transport=transport) as client,
        pytest.raises(ClientConnectionError) as caught,
    ):
        client.images.upload(created_image(), path)
    assert "peer closed" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(caught.value)


def test_httpx_request_logs_show_the_token_masked(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """httpx logs every request URL at INFO: the upload's token is masked in that line."""
    path, _ = archive(tmp_path, 10)
    # The httpx logger's own level too: other tests (the CLI's logging set-up) may have raised it.
    with (
        caplog.at_level(logging.DEBUG),
        caplog.at_level(logging.DEBUG, logger="httpx"),
        client_for(Receiver()) as client,
    ):
        client.images.upload(created_image(), path)
    assert any("/upload?" in r.getMessage() for r in caplog.records), "httpx logged no request line"
    assert TOKEN not in caplog.text
    assert "token=********" in caplog.text


def test_upload_targets_keep_the_token_out_of_reprs() -> None:
    target = upload_target(created_image(), token=None, hub_id=None, default_hub=None)
    assert isinstance(target, UploadTarget)
    assert target.token == TOKEN
    assert TOKEN not in repr(target)
    with client_for(Receiver()) as client:
        assert KEY not in repr(client)


@given(name=st.text(max_size=80))
def test_no_file_name_can_break_the_part_headers(name: str) -> None:
    """Whatever the file is called (quotes, CR/LF, backslashes, non-ASCII), the part's headers stay two lines and
    the field is still ``file.tar``."""
    body = MultipartFile(io.BytesIO(b"data"), filename=name)
    head = next(iter(body.chunks())).decode("ascii")
    lines = head.split("\r\n")
    assert lines[1].startswith(f'Content-Disposition: form-data; name="{FIELD_NAME}"; filename="')
    assert lines[1].count('"') == 4
    assert lines[2:] == ["Content-Type: application/octet-stream", "", ""]


@pytest.mark.parametrize(
    ("name", "sent"),
    [
        ("/srv/images/app.tar", "app.tar"),
        ("C:\\images\\app.tar", "app.tar"),
        ("<stdin>", "image.tar"),
        ("", "image.tar"),
    ],
)
def test_the_part_carries_the_files_base_name(name: str, sent: str) -> None:
    head = next(iter(MultipartFile(io.BytesIO(b"x"), filename=name or None).chunks())).decode("ascii")
    assert f'filename="{sent}"' in head


def test_the_async_client_streams_the_same_body_and_awaits_progress(tmp_path: Path) -> None:
    path, digest = archive(tmp_path, 2 * CHUNK_SIZE + 5)
    receiver = Receiver()
    seen: list[int] = []

    async def record(progress: UploadProgress) -> None:
        seen.append(progress.bytes_sent)

    async def scenario() -> Image:
        async with AsyncClient("http://imgsrc.test", KEY, HUB_ID, transport=receiver.async_transport) as client:
            return await client.images.upload(created_image(), path, on_progress=record)

    image = asyncio.run(scenario())
    assert image.state.current == "live"
    got = receiver.last
    assert (got.parts[0].sha256, got.parts[0].disposition["name"]) == (digest, FIELD_NAME)
    assert dict(got.request.url.params)["token"] == TOKEN
    assert "authorization" not in got.request.headers
    assert int(got.request.headers["content-length"]) == got.body_bytes
    assert seen[-1] == path.stat().st_size
