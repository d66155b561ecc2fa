"""The SDK's image source calls against the real server."""

from __future__ import annotations

import httpx
import pytest

from imgsrc.client import (
    ACL,
    Client,
    CreateImageSourceRequest,
    ImageSource,
    InvalidArgumentError,
    MissingArgumentError,
    NotFoundError,
)
from imgsrc.errors import MaxExceededError
from imgsrc.sources.origins import DockerHubDetails, DockerHubOrigin


def _hub(target: str = "redis:7", **details: str) -> dict[str, object]:
    return {"type": "docker-hub", "details": {"target": target, **details}}


def test_crud_round_trip_on_each_backend(backend_sdk: Client) -> None:
    """Create, read (by ID and by identifier), update, restrict, delete and wait: every step answers typed models,
    secrets come back masked, and a deleted source leaves the default listing."""
    sdk = backend_sdk
    created = sdk.sources.create(name="My Redis 7!", origin=_hub(token="hub-token-123"))
    assert isinstance(created, ImageSource)
    assert created.identifier == "my-redis-7"
    assert created.origin.details.token == "********"  # type: ignore[union-attr]

    assert sdk.sources.get(created.id) == created
    assert sdk.sources.get("my-redis-7").id == created.id

    renamed = sdk.sources.update(created.id, name="Cache", about={"description": "shared"})
    assert (renamed.name, renamed.identifier) == ("Cache", "my-redis-7")
    assert renamed.about is not None
    assert renamed.about.description == "shared"

    role = sdk.roles.create("Operators")
    restricted = sdk.sources.update_access(
        created.id, {"roles": {role.id: {"view": True, "modify": False, "manage": False}}}
    )
    assert restricted.acl == ACL.model_validate({"roles": {role.id: {"view": True, "modify": False, "manage": False}}})
    assert sdk.sources.update_access(created.id, None).acl is None

    assert [s.id for s in sdk.sources.list()] == [created.id]
    descriptor = sdk.sources.delete(created.id)
    assert descriptor.action == "delete"
    job = sdk.jobs.wait(descriptor, timeout=30, poll=0.05)
    assert job.state.current == "completed"
    assert sdk.sources.list() == []
    assert [s.state.current for s in sdk.sources.list(state="deleted")] == ["deleted"]


def test_create_accepts_a_request_model(sdk: Client) -> None:
    """``create`` takes a ready request model as well as keyword fields."""
    request = CreateImageSourceRequest(
        type="direct", name="nginx", origin=DockerHubOrigin(type="docker-hub", details=DockerHubDetails(target="nginx"))
    )
    created = sdk.sources.create(request)
    assert (created.name, created.type, created.origin.type) == ("nginx", "direct", "docker-hub")


def test_create_with_both_a_model_and_fields_is_a_type_error(sdk: Client) -> None:
    """Mixing the two forms is a programming error, refused before sending."""
    request = CreateImageSourceRequest(type="direct", origin=DockerHubOrigin.model_validate(_hub()))
    with pytest.raises(TypeError):
        sdk.sources.create(request, name="x")


def test_invalid_request_is_refused_before_sending_with_a_pointer_and_no_secret() -> None:
    """A body the wire model refuses raises the 422 error the server would, pointing at the field, without
    sending anything and without quoting the values (one is a token)."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing should be sent")

    with Client("http://127.0.0.1:9", "imgsrc_x", "0" * 24, transport=httpx.MockTransport(refuse)) as client:
        with pytest.raises(MissingArgumentError) as missing:
            client.sources.create(origin={"type": "docker-hub", "details": {"token": "very-secret-token"}})
        with pytest.raises(InvalidArgumentError) as invalid:
            client.sources.create(identifier="Not A Slug", origin=_hub(token="very-secret-token"))
    assert missing.value.source == "/origin/details/target"
    assert missing.value.code == "422.missing-argument"
    assert invalid.value.source == "/identifier"
    for error in (missing.value, invalid.value):
        assert "very-secret-token" not in f"{error} {error!r} {error.extra}"


def test_unknown_source_raises_not_found_with_its_code(sdk: Client) -> None:
    """A 404 answer becomes NotFoundError carrying the server's code and detail."""
    with pytest.raises(NotFoundError) as caught:
        sdk.sources.get("no-such-source")
    assert caught.value.code == "404.image.source"
    assert caught.value.status == 404
    assert caught.value.detail == "image source not found"


def test_server_side_422_keeps_its_source_pointer(sdk: Client) -> None:
    """Refusals only the server can make keep their JSON pointer: into the body, or into the query."""
    with pytest.raises(InvalidArgumentError) as body_error:
        sdk.sources.create(origin={"type": "cycle-source", "details": {"source_id": "x"}})
    assert body_error.value.code == "422.invalid-argument"
    assert body_error.value.source == "/origin/type"

    with pytest.raises(MaxExceededError) as query_error:
        sdk.sources.list(page_size=500)
    assert query_error.value.source == "/query/page[size]"


def test_reference_that_would_change_the_path_is_refused(sdk: Client) -> None:
    """An ID or identifier is one path segment: characters such as ``?`` are percent-encoded (the server then
    finds nothing), and values that would resolve to another endpoint (``..``, ``a/b``) are refused unsent."""
    with pytest.raises(NotFoundError) as caught:
        sdk.sources.get("x?y=1#z")
    assert caught.value.code == "404.image.source"
    for ref in ("a/b", "..", ".", ""):
        with pytest.raises(InvalidArgumentError):
            sdk.sources.get(ref)
    with pytest.raises(InvalidArgumentError):
        sdk.jobs.get("../images")


def test_iter_walks_every_page_once(sdk: Client) -> None:
    """``iter`` yields each matching source exactly once across pages; ``list`` returns one page and the total."""
    ids = {sdk.sources.create(name=f"source {n}", origin=_hub()).id for n in range(7)}
    walked = [s.id for s in sdk.sources.iter(page_size=3)]
    assert sorted(walked) == sorted(ids)

    last = sdk.sources.list(page=3, page_size=3, sort="name")
    assert last.total == 7
    assert [s.name for s in last] == ["source 6"]
    assert [s.name for s in sdk.sources.iter(search="source 1")] == ["source 1"]


def test_list_meta_and_include(sdk: Client) -> None:
    """``meta=images_count`` fills each source's counts; ``include=creators`` fills the page's includes."""
    sdk.sources.create(name="counted", origin=_hub())
    page = sdk.sources.list(meta="images_count", include=["creators"])
    counts = page[0].meta.images_count if page[0].meta else None
    assert counts is not None
    assert counts.total == 0
    creator = page[0].creator.id
    assert creator in page.includes["creators"]
    assert "secret" not in page.includes["creators"][creator]
    single = sdk.sources.get("counted", meta="images_count")
    assert single.meta is not None
    assert single.meta.images_count is not None
