"""Hubs, keys, capabilities and ACLs: who may see and do what."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import assert_error, new_source, wait_job


def make_key(api: Any, *capabilities: str, role_id: str | None = None) -> str:
    body: dict[str, Any] = {"name": "k", "capabilities": list(capabilities)}
    if role_id:
        body["role_id"] = role_id
    response = api.post("/v1/hubs/current/api-keys", json=body)
    assert response.status_code == 201, response.text
    secret = response.json()["data"]["secret"]
    assert secret.startswith("imgsrc_")
    return str(secret)


def make_role(api: Any, name: str) -> str:
    response = api.post("/v1/hubs/current/roles", json={"name": name})
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def test_missing_or_unknown_key_is_401(api: Any) -> None:
    anonymous = api.client.get("/v1/images/sources", headers={"X-Hub-Id": api.hub_id})
    assert_error(anonymous, 401, "401.auth-invalid")
    assert_error(api.as_key("imgsrc_nope").get("/v1/images/sources"), 401, "401.auth-invalid")
    assert_error(api.get("/v1/images/sources", headers={"Authorization": "Basic abc"}), 401, "401.auth-invalid")


def test_missing_or_foreign_hub_header_is_403_wrong_hub(api: Any) -> None:
    no_hub = api.client.get("/v1/images/sources", headers={"Authorization": f"Bearer {api.key}"})
    assert_error(no_hub, 403, "403.wrong-hub")
    assert_error(api.as_key(api.key, hub_id="0" * 24).get("/v1/images/sources"), 403, "403.wrong-hub")
    # the header name is case-insensitive
    lower = api.client.get("/v1/images/sources", headers={"authorization": f"Bearer {api.key}", "x-hub-id": api.hub_id})
    assert lower.status_code == 200


def test_hubs_see_nothing_of_each_other(api: Any) -> None:
    mine = new_source(api, name="mine")
    created = api.post("/v1/hubs", json={"name": "Other Team"})
    assert created.status_code == 201, created.text
    other = api.as_key(created.json()["data"]["api_key"]["secret"], created.json()["data"]["hub"]["id"])
    theirs = new_source(other, name="theirs")
    assert [s["id"] for s in other.get("/v1/images/sources").json()["data"]] == [theirs["id"]]
    # an ID from another hub answers exactly as if it did not exist
    for method, url, body in (
        ("GET", f"/v1/images/sources/{mine['id']}", None),
        ("PATCH", f"/v1/images/sources/{mine['id']}", {"name": "x"}),
        ("DELETE", f"/v1/images/sources/{mine['id']}", None),
        ("PATCH", f"/v1/images/sources/{mine['id']}/access", {"acl": None}),
    ):
        assert_error(other.request(method, url, json=body), 404, "404.image.source")
    job_id = api.delete(f"/v1/images/sources/{mine['id']}").json()["data"]["job"]["id"]
    assert_error(other.get(f"/v1/jobs/{job_id}"), 404, "404.job")
    assert other.get("/v1/jobs").json()["data"] == []
    # nor can one hub name another's source as `existing`
    response = other.post(
        "/v1/images/sources",
        json={
            "type": "direct",
            "origin": {"type": "docker-hub", "details": {"target": "x", "existing": {"source_id": mine["id"]}}},
        },
    )
    assert_error(response, 422, "422.invalid-argument", "/origin/details/existing/source_id")


@pytest.mark.parametrize(
    ("capabilities", "method", "url_kind", "needed"),
    [
        ((), "GET", "list", "images-sources-view"),
        (("images-sources-view",), "POST", "list", "images-sources-manage"),
        (("images-sources-view",), "PATCH", "one", "images-sources-manage"),
        (("images-sources-view",), "DELETE", "one", "images-sources-manage"),
        (("images-sources-manage",), "GET", "one", "images-sources-view"),
        (("images-sources-view",), "POST", "keys", "hubs-manage"),
    ],
)
def test_missing_capability_is_403_naming_it(
    api: Any, capabilities: tuple[str, ...], method: str, url_kind: str, needed: str
) -> None:
    source = new_source(api)
    restricted = api.as_key(make_key(api, *(capabilities or ("images-view",))))
    url = {
        "list": "/v1/images/sources",
        "one": f"/v1/images/sources/{source['id']}",
        "keys": "/v1/hubs/current/api-keys",
    }[url_kind]
    body = (
        {
            "list": {"type": "direct", "origin": {"type": "none"}},
            "one": {"name": "n"},
            "keys": {"name": "k", "capabilities": ["all"]},
        }[url_kind]
        if method in ("POST", "PATCH")
        else None
    )
    error = assert_error(restricted.request(method, url, json=body), 403, "403.permissions")
    assert error["extra"]["capability"] == needed


def test_acl_restricts_keys_by_role(api: Any) -> None:
    viewers, editors = make_role(api, "viewers"), make_role(api, "editors")
    caps = ("images-sources-view", "images-sources-manage")
    viewer = api.as_key(make_key(api, *caps, role_id=viewers))
    editor = api.as_key(make_key(api, *caps, role_id=editors))
    roleless = api.as_key(make_key(api, *caps))
    open_source = new_source(api, name="open")
    guarded = new_source(
        api,
        name="guarded",
        acl={
            "roles": {
                viewers: {"view": True, "modify": False, "manage": False},
                editors: {"view": True, "modify": True, "manage": False},
            }
        },
    )
    assert guarded["acl"]["roles"][viewers]["view"] is True

    def visible(client: Any) -> set[str]:
        return {s["id"] for s in client.get("/v1/images/sources").json()["data"]}

    assert visible(viewer) == {open_source["id"], guarded["id"]}
    assert visible(roleless) == {open_source["id"]}
    assert_error(roleless.get(f"/v1/images/sources/{guarded['id']}"), 404, "404.image.source")
    assert_error(viewer.patch(f"/v1/images/sources/{guarded['id']}", json={"name": "x"}), 403, "403.permissions")
    assert editor.patch(f"/v1/images/sources/{guarded['id']}", json={"name": "x"}).status_code == 200
    assert_error(editor.delete(f"/v1/images/sources/{guarded['id']}"), 403, "403.permissions")
    assert_error(editor.patch(f"/v1/images/sources/{guarded['id']}/access", json={"acl": None}), 403, "403.permissions")
    # the admin key holds `all` and is not bound by ACLs; removing the ACL opens the source again
    assert api.patch(f"/v1/images/sources/{guarded['id']}/access", json={"acl": None}).status_code == 200
    assert guarded["id"] in visible(roleless)
    job = api.delete(f"/v1/images/sources/{guarded['id']}").json()["data"]["job"]["id"]
    assert wait_job(api, job)["state"]["current"] == "completed"


def test_acl_with_zero_roles_or_unknown_role_is_422(api: Any) -> None:
    source = new_source(api)
    assert_error(
        api.patch(f"/v1/images/sources/{source['id']}/access", json={"acl": {"roles": {}}}),
        422,
        "422.invalid-argument",
        "/acl/roles",
    )
    unknown = "a" * 24
    assert_error(
        api.patch(
            f"/v1/images/sources/{source['id']}/access",
            json={"acl": {"roles": {unknown: {"view": True, "modify": True, "manage": True}}}},
        ),
        422,
        "422.invalid-argument",
        f"/acl/roles/{unknown}",
    )


def test_keys_are_shown_once_and_can_be_revoked(api: Any) -> None:
    secret = make_key(api, "images-sources-view")
    listed = api.get("/v1/hubs/current/api-keys").json()["data"]
    assert all("secret" not in key for key in listed)
    assert all(secret not in str(key) for key in listed)
    key_id = next(k["id"] for k in listed if k["name"] == "k")
    assert api.as_key(secret).get("/v1/images/sources").status_code == 200
    assert api.delete(f"/v1/hubs/current/api-keys/{key_id}").status_code == 200
    assert_error(api.as_key(secret).get("/v1/images/sources"), 401, "401.auth-invalid")


def test_keys_are_stored_as_hashes_only(api: Any, settings: Any) -> None:
    from sqlalchemy import create_engine, text

    secret = make_key(api, "images-sources-view")
    engine = create_engine(settings.resolved_database_url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT secret_hash, hint FROM api_keys")).all()
    engine.dispose()
    assert all(secret not in (h + hint) for h, hint in stored)
