"""Blob downloads (``RegistryClient.download_blob``) from a real registry behind the fault proxy: resume with
``Range`` after a dropped connection and after a crash, retries honouring ``Retry-After``, refusal of lying
registries (wrong digest, wrong size, truncated, wrong ``Content-Length``) with the file removed, redirects
without the ``Authorization`` header, progress, and prompt cancellation."""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from imgsrc.errors import IntegrityError, RateLimitedError, RegistryError
from imgsrc.registry import Descriptor, RegistryClient, StaticCredentials
from imgsrc.registry.manifests import OCI_LAYER_GZIP
from tests.registry.conftest import ClientFactory, Sleeps, run
from tests.support.faults import FaultProxy, blob_path, start_fault_proxy
from tests.support.images import Layer, push_image
from tests.support.registry import RunningRegistry

pytestmark = pytest.mark.registry

SIZE = 3 * 1024 * 1024 + 123  # a few chunks, not a round number


@pytest.fixture(scope="module")
def big_blob(registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Layer]:
    """One multi-MiB layer pushed once for the module: (repository, layer)."""
    work = tmp_path_factory.mktemp("big-blob")
    image = push_image(registry, work, "download/big", layer_sizes=(SIZE,), keep_layout=True)
    return "download/big", image.layers[0]


def _descriptor(layer: Layer) -> Descriptor:
    return Descriptor(OCI_LAYER_GZIP, layer.digest, layer.size)


async def _download(client: RegistryClient, repo: str, descriptor: Descriptor, dest: Path, **kwargs: object) -> None:
    async with client:
        await client.download_blob(repo, descriptor, dest, **kwargs)  # type: ignore[arg-type]


def _proxy_download(
    registry: RunningRegistry,
    make_client: ClientFactory,
    big_blob: tuple[str, Layer],
    dest: Path,
    setup: object,
) -> FaultProxy:
    repo, layer = big_blob
    with start_fault_proxy(registry.url) as proxy:
        setup(proxy, blob_path(repo, layer.digest))  # type: ignore[operator]
        try:
            run(_download(make_client(proxy.url), repo, _descriptor(layer), dest))
        finally:
            proxy.clear_rules()
    return proxy


@pytest.fixture
def through_proxy(
    registry: RunningRegistry, make_client: ClientFactory, big_blob: tuple[str, Layer]
) -> Callable[[Path, Callable[[FaultProxy, str], object]], FaultProxy]:
    """``through_proxy(dest, setup)``: download the big blob via a fault proxy that ``setup`` configured."""
    return functools.partial(_proxy_download, registry, make_client, big_blob)


def test_plain_download_matches_the_blob(
    registry: RunningRegistry, make_client: ClientFactory, big_blob: tuple[str, Layer], tmp_path: Path
) -> None:
    repo, layer = big_blob
    seen: list[int] = []
    dest = tmp_path / "blob.partial"
    run(_download(make_client(registry), repo, _descriptor(layer), dest, progress=seen.append))
    assert dest.read_bytes() == layer.data()
    assert seen[-1] == layer.size
    assert seen == sorted(seen)


def test_dropped_connection_resumes_with_range_and_fetches_the_blob_about_once(
    registry: RunningRegistry, make_client: ClientFactory, big_blob: tuple[str, Layer], tmp_path: Path
) -> None:
    repo, layer = big_blob
    dest = tmp_path / "blob.partial"
    cut = 1_500_000
    proxy = _proxy_download(registry, make_client, big_blob, dest, lambda p, path: p.drop_after(path, cut, times=2))
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == layer.digest.removeprefix("sha256:")
    gets = [r for r in proxy.requests if r.method == "GET"]
    assert len(gets) == 3
    # bytes on the wire: the blob once; what arrived before each drop was kept
    assert proxy.bytes_sent(blob_path(repo, layer.digest)) == layer.size
    assert [r.range for r in gets] == [None, f"bytes={cut}-", f"bytes={2 * cut}-"]


def test_crash_resume_hashes_existing_bytes_and_requests_only_the_rest(
    registry: RunningRegistry, make_client: ClientFactory, big_blob: tuple[str, Layer], tmp_path: Path
) -> None:
    layer = big_blob[1]
    dest = tmp_path / "blob.partial"
    dest.write_bytes(layer.data()[:1_000_000])
    proxy = _proxy_download(registry, make_client, big_blob, dest, lambda p, path: None)
    assert dest.read_bytes() == layer.data()
    [get] = [r for r in proxy.requests if r.method == "GET"]
    assert get.range == "bytes=1000000-"
    assert get.bytes_sent == layer.size - 1_000_000


def test_complete_partial_file_needs_no_request(
    registry: RunningRegistry, make_client: ClientFactory, big_blob: tuple[str, Layer], tmp_path: Path
) -> None:
    dest = tmp_path / "blob.partial"
    dest.write_bytes(big_blob[1].data())
    proxy = _proxy_download(registry, make_client, big_blob, dest, lambda p, path: None)
    assert proxy.requests == []


def test_stale_partial_file_of_another_blob_is_detected_and_removed(
    registry: RunningRegistry, make_client: ClientFactory, big_blob: tuple[str, Layer], tmp_path: Path
) -> None:
    dest = tmp_path / "blob.partial"
    dest.write_bytes(b"not the beginning of this blob")
    with pytest.raises(IntegrityError, match="digest"):
        _proxy_download(registry, make_client, big_blob, dest, lambda p, path: None)
    assert not dest.exists()


def test_429_retry_after_is_honoured(
    registry: RunningRegistry,
    make_client: ClientFactory,
    big_blob: tuple[str, Layer],
    tmp_path: Path,
    sleeps: Sleeps,
) -> None:
    dest = tmp_path / "blob.partial"
    _proxy_download(registry, make_client, big_blob, dest, lambda p, path: p.rate_limit(path, times=2, retry_after="7"))
    assert dest.read_bytes() == big_blob[1].data()
    assert sleeps.waits == [7.0, 7.0]


def test_5xx_is_retried_with_exponential_backoff(
    registry: RunningRegistry,
    make_client: ClientFactory,
    big_blob: tuple[str, Layer],
    tmp_path: Path,
    sleeps: Sleeps,
) -> None:
    dest = tmp_path / "blob.partial"
    _proxy_download(registry, make_client, big_blob, dest, lambda p, path: p.status(path, 503, times=3))
    assert dest.read_bytes() == big_blob[1].data()
    # rand() is pinned to 0.5: waits are 3/4 of 0.5, 1, 2 seconds
    assert sleeps.waits == [0.375, 0.75, 1.5]


def test_rate_limit_that_outlasts_the_retries_is_a_rate_limited_error(
    registry: RunningRegistry, make_client: ClientFactory, big_blob: tuple[str, Layer], tmp_path: Path
) -> None:
    dest = tmp_path / "blob.partial"
    with pytest.raises(RateLimitedError, match="rate limiting"):
        _proxy_download(registry, make_client, big_blob, dest, lambda p, path: p.rate_limit(path, times=None))


def test_retry_after_beyond_the_acceptable_wait_fails_at_once(
    registry: RunningRegistry, make_client: ClientFactory, big_blob: tuple[str, Layer], tmp_path: Path, sleeps: Sleeps
) -> None:
    dest = tmp_path / "blob.partial"
    with pytest.raises(RateLimitedError, match="retry after 21600"):
        _proxy_download(
            registry, make_client, big_blob, dest, lambda p, path: p.rate_limit(path, times=None, retry_after="21600")
        )
    assert sleeps.waits == []


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("corrupt", "digest"),
        ("truncate", "declares 1000 bytes"),
        ("short_content_length", "declares"),
        ("long_content_length", "declares"),
    ],
)
def test_lying_registry_blob_is_refused_and_the_file_removed(
    through_proxy: Callable[[Path, Callable[[FaultProxy, str], object]], FaultProxy],
    big_blob: tuple[str, Layer],
    tmp_path: Path,
    fault: str,
    message: str,
) -> None:
    size = big_blob[1].size

    def setup(proxy: FaultProxy, path: str) -> None:
        if fault == "corrupt":
            proxy.corrupt(path)
        elif fault == "truncate":
            proxy.truncate(path, 1000)
        elif fault == "short_content_length":
            proxy.wrong_content_length(path, size - 10)
        else:
            proxy.wrong_content_length(path, size + 10)

    dest = tmp_path / "blob.partial"
    with pytest.raises(IntegrityError, match=message):
        through_proxy(dest, setup)
    assert not dest.exists()


def test_descriptor_size_smaller_than_the_blob_is_an_integrity_error(
    registry: RunningRegistry, make_client: ClientFactory, big_blob: tuple[str, Layer], tmp_path: Path
) -> None:
    repo, layer = big_blob
    dest = tmp_path / "blob.partial"
    wrong = Descriptor(OCI_LAYER_GZIP, layer.digest, layer.size - 1)
    with pytest.raises(IntegrityError):
        run(_download(make_client(registry), repo, wrong, dest))
    assert not dest.exists()


def test_connection_that_keeps_dropping_without_progress_gives_up(
    registry: RunningRegistry, make_client: ClientFactory, big_blob: tuple[str, Layer], tmp_path: Path
) -> None:
    dest = tmp_path / "blob.partial"
    with pytest.raises(RegistryError, match="attempts"):
        _proxy_download(registry, make_client, big_blob, dest, lambda p, path: p.drop_after(path, 0, times=None))
    assert dest.exists()  # kept for a later resume: nothing wrong was written


def test_redirect_to_other_host_is_followed_without_the_authorization_header(
    basic_registry: RunningRegistry, make_client: ClientFactory, tmp_path: Path
) -> None:
    image = push_image(basic_registry, tmp_path, "download/redirect", layer_sizes=(5000,))
    credentials = basic_registry.credentials
    assert credentials is not None
    layer = image.layers[0]
    path = blob_path("download/redirect", layer.digest)
    # "object storage": a second proxy that answers without asking for credentials
    with start_fault_proxy(basic_registry.url) as storage, start_fault_proxy(basic_registry.url) as front:
        storage.replace(path, layer.data(), "application/octet-stream", method="GET")
        front.redirect(path, storage.url)
        dest = tmp_path / "blob.partial"

        async def scenario() -> None:
            async with make_client(front.url, StaticCredentials(*credentials)) as client:
                # as in an import: the manifest first (which teaches the client the registry's auth)
                assert await client.head_manifest("download/redirect", "latest") is not None
                await client.download_blob("download/redirect", _descriptor(layer), dest)

        run(scenario())
        assert dest.read_bytes() == layer.data()
        assert [r.authorization for r in front.requests if r.method == "GET"][-1] is True
        assert [r.authorization for r in storage.requests] == [False]


def test_cancellation_stops_the_transfer_promptly_and_closes_the_file(
    registry: RunningRegistry, make_client: ClientFactory, big_blob: tuple[str, Layer], tmp_path: Path
) -> None:
    repo, layer = big_blob
    dest = tmp_path / "blob.partial"

    async def scenario() -> None:
        started = asyncio.Event()

        def progress(done: int) -> None:
            started.set()

        async with make_client(registry) as client:
            task = asyncio.create_task(client.download_blob(repo, _descriptor(layer), dest, progress=progress))
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert task.cancelled()

    run(scenario())
    assert 0 < dest.stat().st_size < layer.size  # partial, kept for resume
