"""Malformed requests get a 4xx envelope naming the field at fault, and change nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.helpers import assert_error, docker_hub, new_source

DH = docker_hub()


@pytest.mark.parametrize(
    ("body", "code", "pointer"),
    [
        ({"type": "direct", "origin": DH, "name": 5}, "422.invalid-argument", "/name"),
        ({"type": "direct", "origin": DH, "colour": "red"}, "422.invalid-argument", "/colour"),
        (
            {"type": "direct", "origin": {"type": "docker-hub", "details": {"target": "x", "url": "u"}}},
            "422.invalid-argument",
            "/origin/details/url",
        ),
        (
            {"type": "direct", "origin": {"type": "docker-hub", "details": {}}},
            "422.missing-argument",
            "/origin/details/target",
        ),
        (
            {"type": "direct", "origin": {"type": "docker-registry", "details": {"target": "x"}}},
            "422.missing-argument",
            "/origin/details/url",
        ),
        ({"type": "direct", "origin": {"type": "docker-hub"}}, "422.missing-argument", "/origin/details"),
        ({"type": "direct", "origin": {"type": "git", "details": {}}}, "422.invalid-argument", "/origin/type"),
        ({"type": "direct", "origin": {"details": {}}}, "422.invalid-argument", "/origin/type"),
        ({"type": "direct"}, "422.missing-argument", "/origin"),
        ({"origin": DH}, "422.missing-argument", "/type"),
        ({"type": "somewhere", "origin": DH}, "422.invalid-argument", "/type"),
        ({"type": "direct", "origin": DH, "identifier": "Not a slug"}, "422.invalid-argument", "/identifier"),
        (
            {"type": "direct", "origin": {"type": "docker-hub", "details": {"target": "has space"}}},
            "422.invalid-argument",
            "/origin/details/target",
        ),
        (
            {"type": "direct", "origin": {"type": "docker-file", "details": {"context_dir": "../../etc"}}},
            "422.invalid-argument",
            "/origin/details/context_dir",
        ),
        (
            {"type": "direct", "origin": {"type": "docker-file", "details": {"build_file": "a/../../Dockerfile"}}},
            "422.invalid-argument",
            "/origin/details/build_file",
        ),
        (
            {
                "type": "direct",
                "origin": {
                    "type": "docker-file",
                    "details": {"repo": {"url": "https://g/r.git", "ref": {"type": "hash", "value": "not-hex"}}},
                },
            },
            "422.invalid-argument",
            "/origin/details/repo/ref",
        ),
        (
            {
                "type": "direct",
                "origin": {
                    "type": "docker-file",
                    "details": {
                        "repo": {"url": "https://g/r.git", "auth": {"type": "ssh", "credentials": {"username": "u"}}}
                    },
                },
            },
            "422.missing-argument",
            "/origin/details/repo/auth/credentials/passphrase",
        ),
        (
            {
                "type": "direct",
                "origin": {
                    "type": "oci-registry",
                    "details": {
                        "target": "a",
                        "url": "u",
                        "auth": {"type": "provider", "details": {"flavor": "gcr", "credentials": {}}},
                    },
                },
            },
            "422.invalid-argument",
            "/origin/details/auth/details/flavor",
        ),
        ({"type": "direct", "origin": DH, "acl": {"roles": {}}}, "422.invalid-argument", "/acl/roles"),
        (
            {"type": "direct", "origin": DH, "acl": {"roles": {"r": {"view": True}}}},
            "422.missing-argument",
            "/acl/roles/r/modify",
        ),
        (
            {"type": "direct", "origin": {"type": "cycle-source", "details": {"source_id": "a" * 24}}},
            "422.invalid-argument",
            "/origin/type",
        ),
        (
            {"type": "direct", "origin": {"type": "none", "details": {"x": 1}}},
            "422.invalid-argument",
            "/origin/details",
        ),
        ([], "422.invalid-argument", "/"),
        ("just a string", "422.invalid-argument", "/"),
    ],
)
def test_invalid_create_bodies_name_the_field(api: Any, body: Any, code: str, pointer: str) -> None:
    error = assert_error(api.post("/v1/images/sources", json=body), 422, code, pointer)
    assert error["detail"]
    assert api.get("/v1/images/sources").json()["data"] == []  # nothing was created


def test_broken_json_is_400(api: Any) -> None:
    response = api.post(
        "/v1/images/sources", content=b'{"type": "direct",', headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "400.invalid-syntax")


def test_null_body_and_empty_body_are_refused(api: Any) -> None:
    assert_error(
        api.post("/v1/images/sources", content=b"null", headers={"Content-Type": "application/json"}),
        422,
        "422.missing-argument",
    )
    assert_error(api.post("/v1/images/sources"), 422, "422.missing-argument")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "", "application/xml"])
def test_a_body_that_is_not_json_is_415(api: Any, content_type: str) -> None:
    body = json.dumps({"type": "direct", "origin": DH}).encode()
    response = api.post("/v1/images/sources", content=body, headers={"Content-Type": content_type})
    assert_error(response, 415, "415.invalid-content-type")


def test_json_with_charset_and_vendor_types_is_accepted(api: Any) -> None:
    body = json.dumps({"type": "direct", "origin": DH}).encode()
    for content_type in ("application/json; charset=utf-8", "application/vnd.api+json"):
        assert api.post("/v1/images/sources", content=body, headers={"Content-Type": content_type}).status_code == 201


def test_a_body_over_one_mebibyte_is_refused_even_when_chunked(api: Any) -> None:
    big = json.dumps({"type": "direct", "origin": DH, "about": {"description": "x" * (1024 * 1024)}}).encode()
    assert_error(
        api.post("/v1/images/sources", content=big, headers={"Content-Type": "application/json"}),
        422,
        "422.max-exceeded",
    )

    def chunks() -> Any:
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    chunked = api.post("/v1/images/sources", content=chunks(), headers={"Content-Type": "application/json"})
    assert_error(chunked, 422, "422.max-exceeded")
    assert api.get("/v1/images/sources").json()["data"] == []


def test_patch_with_bad_fields_changes_nothing(api: Any) -> None:
    source = new_source(api, name="keep")
    for body, pointer in (
        ({"name": ""}, "/name"),
        ({"identifier": "Bad Slug"}, "/identifier"),
        ({"origin": {"type": "docker-hub", "details": {}}}, "/origin/details/target"),
        ({"state": "deleted"}, "/state"),
    ):
        response = api.patch(f"/v1/images/sources/{source['id']}", json=body)
        assert response.status_code == 422
        assert response.json()["error"]["source"] == pointer
    assert api.get(f"/v1/images/sources/{source['id']}").json()["data"]["name"] == "keep"


def test_unknown_routes_and_methods_answer_404_envelopes(api: Any) -> None:
    assert_error(api.get("/v1/nowhere"), 404, "404.uri")
    assert_error(api.request("PUT", "/v1/images/sources"), 404, "404.uri")


def test_absurd_ids_are_plain_404s(api: Any) -> None:
    for ref in ("x" * 256, "a..b", "%2e%2e", "' OR 1=1 --"):
        response = api.get(f"/v1/images/sources/{ref}")
        assert response.status_code in (404, 422), response.text
        assert response.json()["data"] is None


def test_nul_characters_are_refused_everywhere(api: Any) -> None:
    body = {"type": "direct", "origin": DH, "name": "a\u0000b"}
    assert_error(api.post("/v1/images/sources", json=body), 422, "422.invalid-argument", "/name")
    assert_error(
        api.get("/v1/images/sources?filter[search]=a%00b"), 422, "422.invalid-argument", "/query/filter[search]"
    )
    assert_error(api.get("/v1/images/sources/a%00b"), 422, "422.invalid-argument", "/path")
    assert api.get("/v1/images/sources").json()["data"] == []
