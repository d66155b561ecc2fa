"""The pull side of the OCI distribution spec, checked over real HTTP against the served imgsrc -- the checks of
the distribution-spec conformance suite's pull and tag-listing workflows, reproduced here.

The suite itself cannot be built on this machine: its current version needs Go >= 1.21 (``slices``, ``maps``,
``min``; its go.mod says 1.24) where Debian packages Go 1.19 only, and its v1.1.x releases need ginkgo v2,
gomega and reggie, none of which Debian packages (and Go modules cannot be downloaded here)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import httpx
import pytest

from tests.support.images import OCI_MANIFEST
from tests.v2.conftest import World

pytestmark = [pytest.mark.registry, pytest.mark.slow]

MISSING = "sha256:" + "0" * 64


def errors_of(response: httpx.Response) -> list[dict[str, Any]]:
    body = response.json()
    assert set(body) == {"errors"}, body  # the distribution format, never the Cycle envelope
    return body["errors"]  # type: ignore[no-any-return]


def assert_oci_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    codes = [e["code"] for e in errors_of(response)]
    assert codes == [code]
    assert re.fullmatch(r"[A-Z_]+", code)


def test_the_base_endpoint_answers_200_to_authenticated_clients(world: World, v2: httpx.Client) -> None:
    response = v2.get("/v2/", headers=world.basic())
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_manifests_by_tag_and_digest_are_the_stored_bytes_with_type_digest_and_length(
    world: World, v2: httpx.Client
) -> None:
    pushed = world.app.pushed[0]
    repo = world.repo(world.app)
    for reference in (world.app.image_ids[0], pushed.manifest_digest):
        response = v2.get(f"/v2/{repo}/manifests/{reference}", headers=world.basic())
        assert response.status_code == 200, response.text
        assert response.content == pushed.manifest_bytes
        assert response.headers["Content-Type"] == OCI_MANIFEST
        assert response.headers["Docker-Content-Digest"] == pushed.manifest_digest
        assert int(response.headers["Content-Length"]) == len(pushed.manifest_bytes)
        head = v2.head(f"/v2/{repo}/manifests/{reference}", headers=world.basic())
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["Docker-Content-Digest"] == pushed.manifest_digest
        assert int(head.headers["Content-Length"]) == len(pushed.manifest_bytes)
        assert head.headers["Content-Type"] == OCI_MANIFEST


def test_latest_is_the_newest_live_image_of_the_source(world: World, v2: httpx.Client) -> None:
    response = v2.get(f"/v2/{world.repo(world.app)}/manifests/latest", headers=world.basic())
    assert response.headers["Docker-Content-Digest"] == world.app.latest.manifest_digest


def test_docker_media_types_are_served_as_stored(world: World, v2: httpx.Client) -> None:
    pushed = world.dock.latest
    response = v2.get(f"/v2/{world.repo(world.dock)}/manifests/latest", headers=world.basic())
    assert response.headers["Content-Type"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert response.content == pushed.manifest_bytes


def test_repositories_are_named_by_ids_or_identifiers_of_hub_and_source(world: World, v2: httpx.Client) -> None:
    digest = world.app.latest.manifest_digest
    for repo in (
        world.repo(world.app, by_id=True),
        world.repo(world.app, hub=world.hub_identifier),
        world.repo(world.app, by_id=True, hub=world.hub_identifier),
    ):
        response = v2.head(f"/v2/{repo}/manifests/latest", headers=world.basic())
        assert response.status_code == 200, repo
        assert response.headers["Docker-Content-Digest"] == digest


def test_blobs_are_streamed_with_digest_and_length(world: World, v2: httpx.Client) -> None:
    pushed = world.app.pushed[0]
    repo = world.repo(world.app)
    big = pushed.layers[1]
    response = v2.get(f"/v2/{repo}/blobs/{big.digest}", headers=world.basic())
    assert response.status_code == 200
    assert response.content == big.data()
    assert response.headers["Docker-Content-Digest"] == big.digest
    assert int(response.headers["Content-Length"]) == big.size
    config = v2.get(f"/v2/{repo}/blobs/{pushed.config_digest}", headers=world.basic())
    assert config.content == pushed.config_bytes
    head = v2.head(f"/v2/{repo}/blobs/{big.digest}", headers=world.basic())
    assert head.status_code == 200
    assert int(head.headers["Content-Length"]) == big.size
    assert head.headers["Docker-Content-Digest"] == big.digest
    assert head.content == b""


def test_a_manifest_is_also_readable_as_a_blob(world: World, v2: httpx.Client) -> None:
    pushed = world.app.latest
    response = v2.get(f"/v2/{world.repo(world.app)}/blobs/{pushed.manifest_digest}", headers=world.basic())
    assert response.content == pushed.manifest_bytes


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=0-99", 0, 100), ("bytes=1000-", 1000, None), ("bytes=-10", -10, None), ("bytes=5-5", 5, 6)],
)
def test_blob_ranges_answer_206_with_content_range(
    world: World, v2: httpx.Client, header: str, start: int, end: int | None
) -> None:
    layer = world.app.pushed[0].layers[1]
    data = layer.data()
    response = v2.get(f"/v2/{world.repo(world.app)}/blobs/{layer.digest}", headers={**world.basic(), "Range": header})
    assert response.status_code == 206
    expected = data[start:end]
    assert response.content == expected
    first = start % len(data)
    assert response.headers["Content-Range"] == f"bytes {first}-{first + len(expected) - 1}/{len(data)}"
    assert int(response.headers["Content-Length"]) == len(expected)


def test_an_unsatisfiable_range_is_416_range_invalid(world: World, v2: httpx.Client) -> None:
    layer = world.app.pushed[0].layers[1]
    response = v2.get(
        f"/v2/{world.repo(world.app)}/blobs/{layer.digest}",
        headers={**world.basic(), "Range": f"bytes={layer.size}-"},
    )
    assert_oci_error(response, 416, "RANGE_INVALID")
    assert response.headers["Content-Range"] == f"bytes */{layer.size}"


def test_a_range_resumes_a_download_to_the_same_digest(world: World, v2: httpx.Client) -> None:
    layer = world.app.pushed[0].layers[1]
    url = f"/v2/{world.repo(world.app)}/blobs/{layer.digest}"
    head = v2.get(url, headers={**world.basic(), "Range": "bytes=0-29999"}).content
    tail = v2.get(url, headers={**world.basic(), "Range": f"bytes={len(head)}-", "If-Range": f'"{layer.digest}"'})
    assert "sha256:" + hashlib.sha256(head + tail.content).hexdigest() == layer.digest


def test_a_stale_if_range_sends_the_whole_blob(world: World, v2: httpx.Client) -> None:
    layer = world.app.pushed[0].layers[0]
    response = v2.get(
        f"/v2/{world.repo(world.app)}/blobs/{layer.digest}",
        headers={**world.basic(), "Range": "bytes=0-9", "If-Range": '"something-else"'},
    )
    assert response.status_code == 200
    assert response.content == layer.data()


def test_unknown_manifests_blobs_and_repositories_are_404_with_their_codes(world: World, v2: httpx.Client) -> None:
    repo = world.repo(world.app)
    assert_oci_error(v2.get(f"/v2/{repo}/manifests/{MISSING}", headers=world.basic()), 404, "MANIFEST_UNKNOWN")
    assert_oci_error(v2.get(f"/v2/{repo}/manifests/nosuchtag", headers=world.basic()), 404, "MANIFEST_UNKNOWN")
    assert_oci_error(v2.get(f"/v2/{repo}/manifests/{'a' * 24}", headers=world.basic()), 404, "MANIFEST_UNKNOWN")
    sha512 = "sha512:" + "a" * 128
    assert_oci_error(v2.get(f"/v2/{repo}/manifests/{sha512}", headers=world.basic()), 404, "MANIFEST_UNKNOWN")
    assert_oci_error(v2.get(f"/v2/{repo}/blobs/{MISSING}", headers=world.basic()), 404, "BLOB_UNKNOWN")
    assert v2.head(f"/v2/{repo}/blobs/{MISSING}", headers=world.basic()).status_code == 404
    assert v2.head(f"/v2/{repo}/manifests/{MISSING}", headers=world.basic()).status_code == 404
    nowhere = f"{world.hub_id}/no-such-source"
    assert_oci_error(v2.get(f"/v2/{nowhere}/manifests/latest", headers=world.basic()), 404, "NAME_UNKNOWN")
    assert_oci_error(v2.get(f"/v2/{nowhere}/tags/list", headers=world.basic()), 404, "NAME_UNKNOWN")
    assert_oci_error(v2.get(f"/v2/{world.app.identifier}/manifests/latest", headers=world.basic()), 404, "NAME_UNKNOWN")


def test_malformed_requests_are_400_with_their_codes(world: World, v2: httpx.Client) -> None:
    repo = world.repo(world.app)
    assert_oci_error(v2.get("/v2/Upper/Case/manifests/latest", headers=world.basic()), 400, "NAME_INVALID")
    assert_oci_error(v2.get(f"/v2/{repo}/manifests/-bad", headers=world.basic()), 400, "TAG_INVALID")
    assert_oci_error(v2.get(f"/v2/{repo}/manifests/sha256:zz!", headers=world.basic()), 400, "DIGEST_INVALID")
    assert_oci_error(v2.get(f"/v2/{repo}/blobs/latest", headers=world.basic()), 400, "DIGEST_INVALID")
    assert_oci_error(v2.get(f"/v2/{repo}/tags/list?n=-1", headers=world.basic()), 400, "PAGINATION_NUMBER_INVALID")


def test_tags_are_the_live_image_ids_and_latest_in_ascii_order(world: World, v2: httpx.Client) -> None:
    response = v2.get(f"/v2/{world.repo(world.app)}/tags/list", headers=world.basic())
    assert response.status_code == 200
    assert response.json() == {"name": world.repo(world.app), "tags": sorted([*world.app.image_ids, "latest"])}
    assert "Link" not in response.headers


def test_tags_paginate_with_n_last_and_a_next_link(world: World, v2: httpx.Client) -> None:
    repo = world.repo(world.app)
    every = sorted([*world.app.image_ids, "latest"])
    seen: list[str] = []
    url: str | None = f"/v2/{repo}/tags/list?n=1"
    while url is not None:
        response = v2.get(url, headers=world.basic())
        assert response.status_code == 200
        tags = response.json()["tags"]
        assert len(tags) == 1
        seen += tags
        link = response.headers.get("Link")
        match = re.fullmatch(r'<(/v2/[^>]+)>; rel="next"', link) if link else None
        assert (match is None) == (len(seen) == len(every)), link
        url = match.group(1) if match else None
    assert seen == every
    empty = v2.get(f"/v2/{repo}/tags/list?n=0", headers=world.basic())
    assert empty.json()["tags"] == []
    assert "Link" not in empty.headers
    after = v2.get(f"/v2/{repo}/tags/list?last={every[0]}", headers=world.basic())
    assert after.json()["tags"] == every[1:]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize(
    "path",
    ["/v2/{repo}/blobs/uploads/", "/v2/{repo}/manifests/latest", "/v2/{repo}/blobs/{digest}", "/v2/token", "/v2/"],
)
def test_writes_anywhere_are_405_unsupported(world: World, v2: httpx.Client, method: str, path: str) -> None:
    url = path.format(repo=world.repo(world.app), digest=world.app.latest.config_digest)
    for headers in ({}, world.basic()):
        response = v2.request(method, url, headers=headers, content=b"{}")
        assert_oci_error(response, 405, "UNSUPPORTED")


def test_other_endpoints_are_404_in_the_distribution_format(world: World, v2: httpx.Client) -> None:
    repo = world.repo(world.app)
    for path in ("/v2/_catalog", f"/v2/{repo}/referrers/{world.app.latest.manifest_digest}"):
        assert_oci_error(v2.get(path, headers=world.basic()), 404, "UNSUPPORTED")
