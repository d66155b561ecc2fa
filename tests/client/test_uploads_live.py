"""Uploads to the real server's upload endpoint: a real OCI archive (made by skopeo) becomes a live image, the token
is the only credential and works once, and refusals arrive as the project's errors without the token."""

from __future__ import annotations

import asyncio
import io

import pytest

from imgsrc.client import (
    AsyncClient,
    AuthInvalidError,
    Client,
    Image,
    ImgsrcError,
    InvalidArgumentError,
    InvalidStateError,
    UploadProgress,
)
from tests.client.conftest import UploadArchive
from tests.support.server import LiveServer


def uploadable(sdk: Client) -> Image:
    source = sdk.sources.list(identifier="uploads")
    source_id = source[0].id if source else sdk.sources.create(name="uploads", origin={"type": "cycle-upload"}).id
    return sdk.images.create(source_id)


def test_an_archive_upload_makes_the_image_live_without_an_api_key(
    sdk: Client, server: LiveServer, upload_archive: UploadArchive
) -> None:
    """The client that uploads holds a key the server would refuse: the upload works because only the token is
    sent. The image is live with the archive's manifest digest; progress reached the file's size."""
    image = uploadable(sdk)
    seen: list[UploadProgress] = []
    with Client(server.url, "imgsrc_not_a_valid_key", server.hub_id) as stranger:
        live = stranger.images.upload(image, upload_archive.path, on_progress=seen.append)
    assert live.state.current == "live"
    assert live.backend.file_id == upload_archive.manifest_digest
    assert seen[-1].bytes_sent == upload_archive.path.stat().st_size
    assert sdk.images.get(image.id).state.current == "live"
    assert upload_archive.manifest_digest in sdk.images.build_log(image).log
    assert sdk.images.pull_ref(live).endswith(f":{image.id}")


def test_the_token_works_once_and_never_shows_in_errors(sdk: Client, upload_archive: UploadArchive) -> None:
    image = uploadable(sdk)
    token = image.source.details.origin.details.token  # type: ignore[union-attr]
    assert token
    sdk.images.upload(image, upload_archive.path)
    with pytest.raises(InvalidStateError) as spent:
        sdk.images.upload(image, upload_archive.path)
    assert spent.value.code == "403.invalid-state"
    other = uploadable(sdk)
    with pytest.raises(AuthInvalidError) as wrong:
        sdk.images.upload(other.id, upload_archive.path, token="not-the-token")
    assert wrong.value.code == "401.auth-invalid"
    for error in (spent.value, wrong.value):
        assert token not in str(error)
        assert token not in repr(error)


def test_a_file_that_is_no_archive_is_refused_and_the_image_says_why(sdk: Client) -> None:
    image = uploadable(sdk)
    with pytest.raises(ImgsrcError) as caught:
        sdk.images.upload(image, io.BytesIO(b"this is not a tar archive at all" * 100))
    assert caught.value.status == 422
    after = sdk.images.get(image.id)
    assert after.state.current == "new"
    assert after.state.error is not None


def test_an_image_of_another_source_type_is_refused_before_sending(sdk: Client, upload_archive: UploadArchive) -> None:
    source = sdk.sources.create(name="hub", origin={"type": "docker-hub", "details": {"target": "redis"}})
    with pytest.raises(InvalidArgumentError):
        sdk.images.upload(sdk.images.create(source.id), upload_archive.path, token="x")


def test_the_async_client_uploads_to_live(server: LiveServer, upload_archive: UploadArchive) -> None:
    async def scenario() -> Image:
        async with AsyncClient(server.url, server.api_key, server.hub_id) as client:
            source = await client.sources.create(name="uploads", origin={"type": "cycle-upload"})
            image = await client.images.create(source.id)
            return await client.images.upload(image, upload_archive.path)

    live = asyncio.run(scenario())
    assert (live.state.current, live.backend.file_id) == ("live", upload_archive.manifest_digest)
