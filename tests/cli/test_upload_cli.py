"""``imgsrc upload SOURCE FILE.tar``: end to end against the real server with a real archive; and, where the test
needs to see the bytes on the wire or script the answer, against the streaming fake endpoint of the SDK tests,
reached through a transport that sends every other call to the real server."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from imgsrc.cli import importing
from imgsrc.cli.failures import ExitCode
from imgsrc.client import Client
from imgsrc.client.multipart import CHUNK_SIZE, FIELD_NAME
from tests.cli.conftest import Cli
from tests.client.conftest import UploadArchive, image_document, upload_archive
from tests.client.multipart_receiver import Receiver
from tests.support.server import LiveServer

__all__ = ["upload_archive"]


class Routing(httpx.BaseTransport):
    """Uploads go to the fake endpoint, everything else to the real server."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.network = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/upload"):
            return self.receiver.handle(request)
        return self.network.handle_request(request)

    def close(self) -> None:
        self.network.close()


def live_answer(request: httpx.Request) -> dict[str, Any]:
    image_id = request.url.path.split("/")[3]
    return {"data": image_document("live", image_id=image_id)}


@pytest.fixture
def receiver(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Receiver:
    fake = Receiver(document=live_answer)

    def open_client(url: str | None, api_key: str | None, hub: str | None, data_dir: Path | None) -> Client:
        return Client(server.url, server.api_key, server.hub_id, transport=Routing(fake))

    monkeypatch.setattr(importing, "open_client", open_client)
    return fake


def test_upload_end_to_end_prints_progress_and_the_live_image(
    cli: Cli, server: LiveServer, upload_archive: UploadArchive
) -> None:
    cli.json("sources", "create", "--origin", "cycle-upload", "--name", "uploads")
    result = cli("upload", "uploads", str(upload_archive.path))
    assert result.exit_code == 0, result.output
    (image,) = cli.json("images", "list")
    shown = dict(line.split(None, 1) for line in result.stdout.splitlines() if line.strip())
    assert shown["image"].strip() == image["id"]
    assert shown["digest"].strip() == upload_archive.manifest_digest
    assert shown["pull"].strip().endswith(f"/{server.hub_id}/{image['source']['details']['id']}:{image['id']}")
    assert result.stderr.splitlines()[-1].startswith("sent ")
    assert image["state"]["current"] == "live"


def test_upload_creates_the_image_streams_the_file_and_prints_the_live_image(
    cli: Cli, receiver: Receiver, tmp_path: Path
) -> None:
    cli.json("sources", "create", "--origin", "cycle-upload", "--name", "uploads")
    data = os.urandom(2 * CHUNK_SIZE + 99)
    archive = tmp_path / "app.tar"
    archive.write_bytes(data)

    result = cli("upload", "uploads", str(archive), "--name", "app 1")
    assert result.exit_code == 0, result.output
    (image,) = cli.json("images", "list")
    assert image["name"] == "app 1"
    got = receiver.last
    assert got.request.url.path == f"/v1/images/{image['id']}/upload"
    assert dict(got.request.url.params)["hub-id"] == image["hub_id"]
    assert "authorization" not in got.request.headers
    assert got.parts[0].disposition == {"name": FIELD_NAME, "filename": "app.tar"}
    assert got.parts[0].sha256 == "sha256:" + hashlib.sha256(data).hexdigest()

    token = dict(got.request.url.params)["token"]
    assert token not in result.output
    lines = result.stderr.splitlines()
    assert lines[0] == "uploading app.tar: 0 B of 2.1 MB"
    assert lines[-2] == "uploading app.tar: 2.1 MB of 2.1 MB"
    assert lines[-1].startswith("sent 2.1 MB")
    assert image["id"] in result.stdout
    assert "sha256:" in result.stdout


def test_upload_reads_standard_input(cli: Cli, receiver: Receiver) -> None:
    """``-`` uploads standard input (as it comes; a pipe's size is unknown, see the SDK's one-way stream test)."""
    cli.json("sources", "create", "--origin", "cycle-upload", "--name", "uploads")
    result = cli("upload", "uploads", "-", "--json", input="not really a tar")
    assert result.exit_code == 0, result.output
    assert receiver.last.parts[0].size == len("not really a tar")
    assert receiver.last.parts[0].disposition["filename"] == "image.tar"
    assert json.loads(result.stdout)["state"]["current"] == "live"


def test_upload_refusals_create_nothing(cli: Cli, receiver: Receiver, tmp_path: Path) -> None:
    """A source that does not take uploads, a missing file or a directory: refused before an image is made."""
    cli.json("sources", "create", "--origin", "docker-hub", "--target", "redis", "--name", "hub")
    cli.json("sources", "create", "--origin", "cycle-upload", "--name", "uploads")
    archive = tmp_path / "a.tar"
    archive.write_bytes(b"x")
    wrong = cli("upload", "hub", str(archive))
    assert wrong.exit_code == ExitCode.REFUSED
    assert "imgsrc import hub" in wrong.stderr
    assert cli("upload", "uploads", str(tmp_path / "absent.tar")).exit_code == ExitCode.USAGE
    assert cli("upload", "uploads", str(tmp_path)).exit_code == ExitCode.USAGE
    assert cli.json("images", "list") == []
    assert receiver.received == []


def test_a_refused_upload_names_the_image_left_behind(cli: Cli, receiver: Receiver, tmp_path: Path) -> None:
    receiver.status = 422
    receiver.document = {"error": {"status": 422, "code": "422.invalid-input", "detail": "not an image archive"}}
    cli.json("sources", "create", "--origin", "cycle-upload", "--name", "uploads")
    archive = tmp_path / "a.tar"
    archive.write_bytes(b"junk")
    result = cli("upload", "uploads", str(archive))
    assert result.exit_code == ExitCode.REFUSED
    (image,) = cli.json("images", "list")
    assert f"image {image['id']} was not uploaded" in result.stderr
    assert "error: not an image archive (422.invalid-input)" in result.stderr
    assert dict(receiver.last.request.url.params)["token"] not in result.output
