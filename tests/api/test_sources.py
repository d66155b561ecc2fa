"""Image sources over HTTP: every convention of api.md, validated against the published Cycle schemas, on SQLite and
PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import (
    assert_cycle_response,
    assert_cycle_schema,
    assert_error,
    docker_hub,
    new_source,
    wait_job,
)

ORIGINS: list[dict[str, Any]] = [
    docker_hub("library/mysql:5.7", username="me", token="hub-token"),
    {
        "type": "docker-registry",
        "details": {"target": "app:1", "url": "registry.example.com", "username": "u", "password": "pw", "token": "tk"},
    },
    {"type": "oci-registry", "details": {"target": "team/app:2", "url": "http://127.0.0.1:5000", "auth": None}},
    {
        "type": "oci-registry",
        "details": {
            "target": "app",
            "url": "r.example",
            "auth": {"type": "user", "details": {"username": "u", "token": "t"}},
        },
    },
    {
        "type": "oci-registry",
        "details": {
            "target": "app",
            "url": "r.example",
            "auth": {"type": "webhook", "details": {"url": "https://hook/x?k=1"}},
        },
    },
    {
        "type": "oci-registry",
        "details": {
            "target": "app",
            "url": "123.dkr.ecr.us-east-1.amazonaws.com",
            "auth": {
                "type": "provider",
                "details": {
                    "flavor": "ecr",
                    "credentials": {"region": "us-east-1", "api_key": "AKIA", "secret": "s3cr3t"},
                },
            },
        },
    },
    {
        "type": "docker-file",
        "details": {
            "repo": {
                "url": "https://git.example/app.git",
                "branch": "main",
                "auth": {"type": "http", "credentials": {"username": "u", "password": "p"}},
                "ref": {"type": "tag", "value": "v1"},
            },
            "context_dir": "/app",
            "build_file": "Dockerfile.prod",
            "credentials": [{"url": "r.example", "username": "u", "token": "t"}],
        },
    },
    {"type": "docker-file", "details": {"targz_url": "https://x.example/ctx.tar.gz"}},
    {
        "type": "docker-file",
        "details": {
            "repo": {
                "url": "ssh://git@git.example/app.git",
                "auth": {
                    "type": "ssh",
                    "credentials": {"username": "git", "passphrase": "pp", "private_key": "-----BEGIN KEY-----"},
                },
            }
        },
    },
    {"type": "cycle-upload", "details": {}},
    {"type": "none"},
]


@pytest.mark.parametrize("origin", ORIGINS, ids=lambda o: o["type"] + ":" + str(sorted(o.get("details", {}))))
def test_create_every_origin_kind_validates_against_the_published_schema(api: Any, origin: dict[str, Any]) -> None:
    response = api.post("/v1/images/sources", json={"type": "direct", "name": "Some Source", "origin": origin})
    body = assert_cycle_response("createImageSource", response)
    data = body["data"]
    assert data["origin"]["type"] == origin["type"]
    assert data["state"]["current"] == "live"
    assert data["events"]["deleted"] == "0001-01-01T00:00:00Z"
    assert data["creator"]["type"] == "api-key"
    got = api.get(f"/v1/images/sources/{data['id']}")
    assert_cycle_response("getImageSource", got)
    assert got.json()["data"]["origin"] == data["origin"]


def test_identifier_is_derived_from_the_name(api: Any) -> None:
    assert new_source(api, name="My Redis 7!")["identifier"] == "my-redis-7"
    assert new_source(api, name="!!!")["identifier"] == "image-source"
    assert new_source(api, name="x", identifier="given-one")["identifier"] == "given-one"


@pytest.mark.parametrize("identifier", ["Not A Slug", "-lead", "trail-", "UPPER", "a--b", ""])
def test_an_identifier_that_is_not_a_slug_is_refused(api: Any, identifier: str) -> None:
    response = api.post("/v1/images/sources", json={"type": "direct", "origin": docker_hub(), "identifier": identifier})
    assert_error(response, 422, "422.invalid-argument", "/identifier")


def test_list_filters_search_sort_and_pages(api: Any) -> None:
    a = new_source(api, name="Alpha", origin=docker_hub("postgres:16"), about={"description": "the database"})
    b = new_source(api, name="Beta", origin=docker_hub("redis:7"))
    c = new_source(api, name="Gamma", origin=docker_hub("nginx:1"))

    listed = assert_cycle_response("getImageSources", api.get("/v1/images/sources?sort=name"))
    assert [s["id"] for s in listed["data"]] == [a["id"], b["id"], c["id"]]
    desc = api.get("/v1/images/sources?sort=-name").json()["data"]
    assert [s["id"] for s in desc] == [c["id"], b["id"], a["id"]]

    # search covers name, identifier, description and target, case-insensitively
    assert [s["id"] for s in api.get("/v1/images/sources?filter[search]=DATABASE").json()["data"]] == [a["id"]]
    assert [s["id"] for s in api.get("/v1/images/sources?filter[search]=redis").json()["data"]] == [b["id"]]
    assert [s["id"] for s in api.get("/v1/images/sources?filter[search]=gam").json()["data"]] == [c["id"]]
    assert api.get("/v1/images/sources?filter[search]=%25").json()["data"] == []  # a literal %, not a wildcard

    # identifier filter, comma-separated; encoded brackets
    both = api.get("/v1/images/sources?filter%5Bidentifier%5D=alpha,gamma&sort=name").json()["data"]
    assert [s["id"] for s in both] == [a["id"], c["id"]]

    page1 = api.get("/v1/images/sources?sort=name&page[size]=2&page[number]=1")
    page2 = api.get("/v1/images/sources?sort=name&page%5Bsize%5D=2&page%5Bnumber%5D=2")
    assert [s["id"] for s in page1.json()["data"]] == [a["id"], b["id"]]
    assert [s["id"] for s in page2.json()["data"]] == [c["id"]]
    assert page1.headers["X-Total-Count"] == "3"


def test_include_and_meta_accept_repeated_and_comma_forms(api: Any) -> None:
    source = new_source(api)
    for query in (
        "include=creators,integrations&meta=images_count",
        "include=creators&include=integrations&meta=images_count",
    ):
        body = assert_cycle_response("getImageSources", api.get(f"/v1/images/sources?{query}"))
        creator = source["creator"]["id"]
        assert set(body["includes"]) == {"creators", "integrations"}
        assert list(body["includes"]["creators"]) == [creator]
        assert "secret" not in body["includes"]["creators"][creator]
        counts = body["data"][0]["meta"]["images_count"]
        assert counts["total"] == 0
        assert {"new", "downloading", "building", "verifying", "saving", "live", "deleting"} <= set(counts["state"])
    single = api.get(f"/v1/images/sources/{source['id']}?meta=images_count").json()["data"]
    assert single["meta"]["images_count"]["total"] == 0


@pytest.mark.parametrize(
    ("query", "code", "source"),
    [
        ("sort=color", "422.invalid-argument", "/query/sort"),
        ("page[size]=101", "422.max-exceeded", "/query/page[size]"),
        ("page[size]=0", "422.invalid-argument", "/query/page[size]"),
        ("page[number]=x", "422.invalid-argument", "/query/page[number]"),
        ("filter[colour]=red", "422.invalid-argument", "/query/filter[colour]"),
        ("filter[state]=sleeping", "422.invalid-argument", "/query/filter[state]"),
        ("include=everything", "422.invalid-argument", "/query/include"),
        ("meta=price", "422.invalid-argument", "/query/meta"),
    ],
)
def test_bad_queries_name_the_parameter(api: Any, query: str, code: str, source: str) -> None:
    assert_error(api.get(f"/v1/images/sources?{query}"), 422, code, source)


def test_get_by_identifier_and_hybrid_id(api: Any) -> None:
    source = new_source(api, name="Hybrid")
    assert api.get("/v1/images/sources/hybrid").json()["data"]["id"] == source["id"]
    assert_error(api.get("/v1/images/sources/000000000000000000000000"), 404, "404.image.source")


def test_patch_changes_only_what_is_sent(api: Any) -> None:
    source = new_source(api, name="Before", about={"description": "kept"})
    response = api.patch(f"/v1/images/sources/{source['id']}", json={"name": "After"})
    data = assert_cycle_response("updateImageSource", response)["data"]
    assert data["name"] == "After"
    assert data["identifier"] == source["identifier"]
    assert data["about"]["description"] == "kept"
    assert data["events"]["updated"] >= source["events"]["updated"]
    changed = api.patch(f"/v1/images/sources/{source['id']}", json={"origin": docker_hub("redis:8")}).json()["data"]
    assert changed["origin"]["details"]["target"] == "redis:8"
    assert_error(
        api.patch(f"/v1/images/sources/{source['id']}", json={"name": None}), 422, "422.invalid-argument", "/name"
    )


def test_delete_runs_as_a_job_to_deleted(api: Any) -> None:
    source = new_source(api)
    response = api.delete(f"/v1/images/sources/{source['id']}")
    body = assert_cycle_response("deleteImageSource", response)
    assert body["data"]["action"] == "delete"
    job_id = body["data"]["job"]["id"]
    # readable the moment the descriptor is returned
    assert api.get(f"/v1/jobs/{job_id}").status_code == 200
    job = wait_job(api, job_id)
    assert job["state"]["current"] == "completed", job
    assert_cycle_schema("Job", job)
    assert [s["caption"] for s in job["tasks"][0]["steps"]] == ["Delete images", "Delete image source"]
    gone = api.get(f"/v1/images/sources/{source['id']}").json()["data"]
    assert gone["state"]["current"] == "deleted"
    assert gone["events"]["deleted"] != "0001-01-01T00:00:00Z"
    # deleted sources are listed only when asked for
    assert api.get("/v1/images/sources").json()["data"] == []
    asked = api.get("/v1/images/sources?filter[state]=deleted").json()["data"]
    assert [s["id"] for s in asked] == [source["id"]]
    # a deleted source cannot change any more
    assert_error(api.patch(f"/v1/images/sources/{source['id']}", json={"name": "x"}), 403, "403.invalid-state")
    assert_error(api.delete(f"/v1/images/sources/{source['id']}"), 403, "403.invalid-state")


def test_jobs_list_filters_by_state(api: Any) -> None:
    source = new_source(api)
    job_id = api.delete(f"/v1/images/sources/{source['id']}").json()["data"]["job"]["id"]
    wait_job(api, job_id)
    listed = api.get("/v1/jobs?filter[state]=completed").json()["data"]
    assert [j["id"] for j in listed] == [job_id]
    for job in listed:
        assert_cycle_schema("Job", job)
    assert api.get("/v1/jobs?filter[state]=queued,running").json()["data"] == []
    assert_error(api.get("/v1/jobs/ffffffffffffffffffffffff"), 404, "404.job")
