"""The SDK's image calls against the real server: life cycle, errors as the project's exceptions, prune; and imports
from a real registry to ``live`` (digest equal to the pushed manifest's), with progress readings and build logs."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from imgsrc.client import (
    Client,
    Image,
    ImportProgress,
    InvalidArgumentError,
    InvalidStateError,
    JobFailedError,
    NotFoundError,
)
from imgsrc.client.image_calls import pull_reference
from imgsrc.jobs.schemas import Job
from tests.client.conftest import image_document, job_document, registry_origin
from tests.support.images import push_image
from tests.support.registry import RunningRegistry
from tests.support.server import LiveServer


def test_life_cycle_of_an_image_without_importing(sdk: Client) -> None:
    """Create (state ``new``, name from the source), read, list with filters, rename, delete and wait: the image
    leaves the default listing and shows under ``state="deleted"``."""
    source = sdk.sources.create(name="Redis", origin={"type": "docker-hub", "details": {"target": "redis:7"}})
    other = sdk.sources.create(name="Nginx", origin={"type": "docker-hub", "details": {"target": "nginx"}})
    image = sdk.images.create("redis", override={"target": "redis:7.2"})
    assert isinstance(image, Image)
    assert (image.state.current, image.name) == ("new", "Redis")
    assert image.source is not None
    assert image.source.details.id == source.id
    assert image.source.override is not None
    assert image.source.override.target == "redis:7.2"
    second = sdk.images.create(other.id, name="web")

    assert sdk.images.get(image.id) == image
    assert [i.id for i in sdk.images.list(source_id=source.id)] == [image.id]
    assert [i.id for i in sdk.images.list(identifier="nginx")] == [second.id]
    assert [i.id for i in sdk.images.list(search="web")] == [second.id]
    assert {i.id for i in sdk.images.iter(page_size=1)} == {image.id, second.id}
    page = sdk.images.list(page_size=1, include="sources")
    assert (len(page), page.total) == (1, 2)
    assert set(page.includes["sources"]) <= {source.id, other.id}

    assert sdk.images.rename(image, "cache").name == "cache"
    descriptor = sdk.images.delete(image.id)
    assert descriptor.action == "delete"
    assert sdk.jobs.wait(descriptor, timeout=30, poll=0.05).state.current == "completed"
    assert [i.id for i in sdk.images.list()] == [second.id]
    assert [i.id for i in sdk.images.list(state="deleted")] == [image.id]


def test_errors_arrive_as_the_projects_exceptions(sdk: Client) -> None:
    hub = sdk.sources.create(name="hub", origin={"type": "docker-hub", "details": {"target": "redis"}})
    nothing = sdk.sources.create(name="nothing", origin={"type": "none"})
    with pytest.raises(NotFoundError) as caught:
        sdk.images.get("f" * 24)
    assert caught.value.code == "404.image"
    with pytest.raises(NotFoundError) as caught:
        sdk.images.create("no-such-source")
    assert (caught.value.code, caught.value.source) == ("404.image.source", "/source_id")
    with pytest.raises(InvalidArgumentError) as invalid:
        sdk.images.create(hub.id, override={"targz_url": "http://example.test/ctx.tar.gz"})
    assert invalid.value.source == "/override/targz_url"

    image = sdk.images.create(nothing.id)
    with pytest.raises(NotFoundError) as caught:
        sdk.images.build_log(image)
    assert caught.value.code == "404.image.build-log"
    with pytest.raises(InvalidArgumentError, match="none"):
        sdk.images.start_import(image)
    with pytest.raises(NotFoundError) as caught:
        sdk.images.prune(["absent"])
    assert caught.value.source == "/contents/source_ids/0"


def test_bad_requests_are_refused_before_sending() -> None:
    """Build argument names and empty prunes are checked against the wire models, with a pointer, before any
    request."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing should be sent")

    with Client("http://imgsrc.test", "k", "0" * 24, transport=httpx.MockTransport(refuse)) as client:
        with pytest.raises(InvalidArgumentError) as caught:
            client.images.create("src", build={"args": {"1bad": "x"}})
        assert caught.value.source == "/build/args"
        with pytest.raises(InvalidArgumentError) as caught:
            client.images.prune([])
        assert caught.value.source == "/contents/source_ids"
        with pytest.raises(InvalidArgumentError):
            client.images.get("../sources")


def test_prune_runs_as_a_job_and_keeps_young_images(sdk: Client) -> None:
    """Prune deletes only images older than 15 minutes: fresh ones survive it."""
    source = sdk.sources.create(name="pruned", origin={"type": "docker-hub", "details": {"target": "redis"}})
    kept = [sdk.images.create(source.id).id for _ in range(2)]
    descriptor = sdk.images.prune("pruned")
    assert descriptor.action == "prune"
    assert sdk.jobs.wait(descriptor, timeout=30, poll=0.05).state.current == "completed"
    assert sorted(i.id for i in sdk.images.list(source_id=source.id)) == sorted(kept)


@pytest.mark.registry
def test_import_to_live_from_a_real_registry(
    sdk: Client, server: LiveServer, registry: RunningRegistry, tmp_path: Path
) -> None:
    """``import_`` starts the job, reports progress, and returns the live image whose digest is the pushed
    manifest's; the build log tells the story; the pull reference names this server, hub, source and image."""
    pushed = push_image(registry, tmp_path, "sdk/app", "v1", layer_sizes=(4096, 2048))
    source = sdk.sources.create(name="app", origin=registry_origin(registry, "sdk/app:v1"))
    image = sdk.images.create(source.id)
    readings: list[ImportProgress] = []
    live = sdk.images.import_(image, poll=0.05, timeout=60, on_progress=readings.append)

    assert live.state.current == "live"
    assert live.backend.file_id == pushed.manifest_digest
    assert live.size == pushed.config_size + sum(pushed.layer_sizes)
    last = readings[-1]
    assert last.job.state.current == "completed"
    assert last.bytes_done == last.bytes_total > 0
    assert (last.layers_total, last.layers_done + last.layers_present) == (2, 2)
    assert last.step == "Save"
    assert last.state == "live"

    log = sdk.images.build_log(live).log
    assert pushed.manifest_digest in log
    port = httpx.URL(server.url).port
    assert sdk.images.pull_ref(live.id) == f"127.0.0.1:{port}/{server.hub_id}/{source.id}:{live.id}"
    assert [i.id for i in sdk.images.list(state="live")] == [live.id]
    with pytest.raises(InvalidStateError):
        sdk.images.start_import(live)


@pytest.mark.registry
def test_a_failed_import_raises_the_jobs_error_and_leaves_a_log(
    sdk: Client, registry: RunningRegistry, tmp_path: Path
) -> None:
    """A tag the registry does not have: ``import_`` raises JobFailedError with the job's message; the image is
    back to ``new`` with the error recorded, and its build log exists."""
    source = sdk.sources.create(name="ghost", origin=registry_origin(registry, "sdk/ghost:missing"))
    image = sdk.images.create(source.id)
    with pytest.raises(JobFailedError) as caught:
        sdk.images.import_(image, poll=0.05, timeout=60)
    assert caught.value.job.state.current == "error"
    after = sdk.images.get(image.id)
    assert after.state.current == "new"
    assert after.state.error is not None
    assert after.state.error.message == caught.value.detail
    assert sdk.images.build_log(image).log


@pytest.mark.registry
def test_import_without_waiting_returns_the_queued_image_and_can_be_followed_later(
    sdk: Client, registry: RunningRegistry, tmp_path: Path
) -> None:
    push_image(registry, tmp_path, "sdk/later", "v1", layer_sizes=(1024,))
    source = sdk.sources.create(name="later", origin=registry_origin(registry, "sdk/later:v1"))
    image = sdk.images.import_(sdk.images.create(source.id), wait=False)
    assert image.state.current in ("new", "downloading", "verifying", "saving", "live")
    running = [j for j in sdk.jobs.list() if j.tasks[0].input.get("image_id") == image.id]
    assert len(running) == 1
    live = sdk.images.wait_import(image, running[0].id, timeout=60, poll=0.05)
    assert live.state.current == "live"
    assert sdk.jobs.get(running[0].id).state.current == "completed"


@pytest.mark.parametrize(
    ("base_url", "host"),
    [
        ("http://127.0.0.1:8080", "127.0.0.1:8080"),
        ("https://images.example.com", "images.example.com"),
        ("https://images.example.com:443/api/", "images.example.com"),
        ("http://images.example.com:80", "images.example.com"),
        ("https://user:secret@images.example.com:8443", "images.example.com:8443"),
        ("http://[::1]:8080", "[::1]:8080"),
    ],
)
def test_pull_references_name_the_servers_host_only(base_url: str, host: str) -> None:
    """The registry lives at the host's root: path, credentials and default ports are left out."""
    image = Image.model_validate(image_document("live"))
    assert image.source is not None
    reference = pull_reference(base_url, image)
    assert reference == f"{host}/{image.hub_id}/{image.source.details.id}:{image.id}"


def test_progress_shows_the_jobs_state_until_the_image_moves() -> None:
    """Before the worker takes the job the reading says ``queued``; once it runs, the image's own state."""
    queued = Job.model_validate(job_document("queued"))
    running = Job.model_validate(job_document("running"))
    new = Image.model_validate(image_document("new"))
    downloading = Image.model_validate(image_document("downloading"))
    assert ImportProgress(queued, new).state == "queued"
    assert ImportProgress(queued, None).state == "queued"
    assert ImportProgress(running, downloading).state == "downloading"
    assert (ImportProgress(running, None).bytes_total, ImportProgress(running, None).step) == (0, None)
