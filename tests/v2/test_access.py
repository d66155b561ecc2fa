"""Who may pull what over /v2: credentials, the token flow, capabilities, ACLs and the isolation of hubs."""

from __future__ import annotations

import base64
import logging
from typing import Any

import httpx
import jwt
import pytest

from tests.v2.conftest import World
from tests.v2.test_conformance import assert_oci_error

pytestmark = [pytest.mark.registry, pytest.mark.slow]


def basic(secret: str, user: str = "anyone") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def token_for(v2: httpx.Client, world: World, key: str, *scopes: str) -> str:
    params = [("service", "imgsrc"), *(("scope", scope) for scope in scopes)]
    response = v2.get("/v2/token", params=params, headers=basic(world.keys.get(key, key)))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    assert body["issued_at"].endswith("Z")
    return str(body["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_without_credentials_every_endpoint_challenges_for_a_token(world: World, v2: httpx.Client) -> None:
    repo = world.repo(world.app)
    realm = f'Bearer realm="{world.url}/v2/token",service="imgsrc"'
    base = v2.get("/v2/")
    assert_oci_error(base, 401, "UNAUTHORIZED")
    assert base.headers["WWW-Authenticate"] == realm
    for path in (f"/v2/{repo}/manifests/latest", f"/v2/{repo}/blobs/{world.app.latest.config_digest}"):
        response = v2.get(path)
        assert_oci_error(response, 401, "UNAUTHORIZED")
        assert response.headers["WWW-Authenticate"] == f'{realm},scope="repository:{repo}:pull"'


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic " + base64.b64encode(b"user:imgsrc_not-a-key").decode(),
        "Basic !!!",
        "Bearer imgsrc_not-a-key",
        "Bearer not.a.token",
        "Digest whatever",
    ],
)
def test_bad_credentials_are_401_unauthorized(world: World, v2: httpx.Client, authorization: str) -> None:
    response = v2.get(f"/v2/{world.repo(world.app)}/manifests/latest", headers={"Authorization": authorization})
    assert_oci_error(response, 401, "UNAUTHORIZED")
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")


def test_basic_with_any_user_name_and_bearer_api_keys_are_accepted(world: World, v2: httpx.Client) -> None:
    url = f"/v2/{world.repo(world.app)}/manifests/latest"
    for headers in (world.basic(user="someone"), world.basic(user=""), bearer(world.keys["viewer"])):
        assert v2.head(url, headers=headers).status_code == 200


def test_the_token_flow_grants_pull_on_the_requested_repository_only(world: World, v2: httpx.Client) -> None:
    app, dock = world.repo(world.app), world.repo(world.dock)
    token = token_for(v2, world, "viewer", f"repository:{app}:pull,push")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["access"] == [{"type": "repository", "name": app, "actions": ["pull"]}]
    assert v2.get(f"/v2/{app}/manifests/latest", headers=bearer(token)).status_code == 200
    assert v2.get("/v2/", headers=bearer(token)).status_code == 200
    other = v2.get(f"/v2/{dock}/manifests/latest", headers=bearer(token))
    assert_oci_error(other, 401, "UNAUTHORIZED")
    assert f'scope="repository:{dock}:pull"' in other.headers["WWW-Authenticate"]
    assert v2.put(f"/v2/{app}/manifests/latest", headers=bearer(token), content=b"{}").status_code == 405


def test_a_login_token_without_scope_opens_only_the_base_endpoint(world: World, v2: httpx.Client) -> None:
    token = token_for(v2, world, "viewer")
    assert v2.get("/v2/", headers=bearer(token)).status_code == 200
    assert v2.get(f"/v2/{world.repo(world.app)}/tags/list", headers=bearer(token)).status_code == 401


def test_the_token_service_needs_the_api_key(world: World, v2: httpx.Client) -> None:
    scope = {"scope": f"repository:{world.repo(world.app)}:pull"}
    anonymous = v2.get("/v2/token", params=scope)
    assert_oci_error(anonymous, 401, "UNAUTHORIZED")
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic ")
    wrong = v2.get("/v2/token", params=scope, headers={"Authorization": "Basic " + base64.b64encode(b"a:b").decode()})
    assert_oci_error(wrong, 401, "UNAUTHORIZED")


def test_a_revoked_key_stops_working_at_once_even_through_its_tokens(world: World, v2: httpx.Client) -> None:
    admin = {"Authorization": f"Bearer {world.keys['admin']}", "X-Hub-Id": world.hub_id}
    created = v2.post(
        "/v1/hubs/current/api-keys", json={"name": "brief", "capabilities": ["images-view"]}, headers=admin
    )
    assert created.status_code == 201, created.text
    key = created.json()["data"]
    repo = world.repo(world.app)
    token = token_for(v2, world, key["secret"], f"repository:{repo}:pull")
    assert v2.head(f"/v2/{repo}/manifests/latest", headers=bearer(token)).status_code == 200
    assert v2.delete(f"/v1/hubs/current/api-keys/{key['id']}", headers=admin).status_code == 200
    assert_oci_error(v2.get(f"/v2/{repo}/manifests/latest", headers=bearer(token)), 401, "UNAUTHORIZED")
    assert_oci_error(v2.get(f"/v2/{repo}/manifests/latest", headers=basic(key["secret"])), 401, "UNAUTHORIZED")


def test_a_key_without_images_view_is_denied_and_gets_no_grant(world: World, v2: httpx.Client) -> None:
    repo = world.repo(world.app)
    assert v2.get("/v2/", headers=world.basic("blind")).status_code == 200  # the key itself is valid
    assert_oci_error(v2.get(f"/v2/{repo}/manifests/latest", headers=world.basic("blind")), 403, "DENIED")
    token = token_for(v2, world, "blind", f"repository:{repo}:pull")
    assert jwt.decode(token, options={"verify_signature": False})["access"] == []
    assert_oci_error(v2.get(f"/v2/{repo}/manifests/latest", headers=bearer(token)), 403, "DENIED")


def answers(v2: httpx.Client, headers: dict[str, str], repo: str, digest: str) -> list[tuple[int, Any]]:
    return [
        (r.status_code, r.json())
        for r in (
            v2.get(f"/v2/{repo}/manifests/latest", headers=headers),
            v2.get(f"/v2/{repo}/manifests/{digest}", headers=headers),
            v2.get(f"/v2/{repo}/blobs/{digest}", headers=headers),
            v2.get(f"/v2/{repo}/tags/list", headers=headers),
        )
    ]


def test_another_hubs_repository_answers_exactly_like_an_absent_one(world: World, v2: httpx.Client) -> None:
    digest = world.secret.latest.manifest_digest
    foreign = answers(v2, world.basic(), world.repo(world.secret), digest)
    absent = answers(v2, world.basic(), f"{world.other_hub_id}/nothing-here", digest)
    assert foreign == absent
    assert {status for status, _ in foreign} == {404}
    assert {body["errors"][0]["code"] for _, body in foreign} == {"NAME_UNKNOWN"}
    # and the same through a token, which the token service grants on the bare name
    token = token_for(v2, world, "admin", f"repository:{world.repo(world.secret)}:pull")
    assert answers(v2, bearer(token), world.repo(world.secret), digest) == absent


def test_a_hub_never_reads_another_hubs_manifest_or_blob_by_digest(world: World, v2: httpx.Client) -> None:
    theirs = world.secret.latest
    mine = world.repo(world.app)
    for digest in (theirs.manifest_digest, theirs.config_digest, theirs.layers[0].digest):
        assert_oci_error(v2.get(f"/v2/{mine}/blobs/{digest}", headers=world.basic()), 404, "BLOB_UNKNOWN")
        assert v2.head(f"/v2/{mine}/blobs/{digest}", headers=world.basic()).status_code == 404
    assert_oci_error(
        v2.get(f"/v2/{mine}/manifests/{theirs.manifest_digest}", headers=world.basic()), 404, "MANIFEST_UNKNOWN"
    )
    ours = world.app.latest
    for digest in (ours.manifest_digest, ours.layers[1].digest):
        response = v2.get(f"/v2/{world.repo(world.secret)}/blobs/{digest}", headers=world.basic("other"))
        assert_oci_error(response, 404, "BLOB_UNKNOWN")
    foreign_repo = v2.get(f"/v2/{mine}/blobs/{ours.layers[1].digest}", headers=world.basic("other"))
    assert_oci_error(foreign_repo, 404, "NAME_UNKNOWN")


def test_a_blob_is_served_only_in_a_repository_whose_images_reference_it(world: World, v2: httpx.Client) -> None:
    dock_layer = world.dock.latest.layers[0].digest
    response = v2.get(f"/v2/{world.repo(world.app)}/blobs/{dock_layer}", headers=world.basic())
    assert_oci_error(response, 404, "BLOB_UNKNOWN")
    assert v2.head(f"/v2/{world.repo(world.dock)}/blobs/{dock_layer}", headers=world.basic()).status_code == 200


def test_a_source_acl_hides_its_repository_from_roles_without_view(world: World, v2: httpx.Client) -> None:
    guarded = world.repo(world.guarded)
    digest = world.guarded.latest.layers[0].digest
    hidden = answers(v2, world.basic("viewer"), guarded, digest)
    absent = answers(v2, world.basic("viewer"), f"{world.hub_id}/nothing-here", digest)
    assert hidden == absent
    by_id = v2.get(f"/v2/{world.repo(world.guarded, by_id=True)}/manifests/latest", headers=world.basic("viewer"))
    assert_oci_error(by_id, 404, "NAME_UNKNOWN")
    for key in ("insider", "admin"):
        assert v2.get(f"/v2/{guarded}/blobs/{digest}", headers=world.basic(key)).status_code == 200
    # nor can the viewer read the guarded image's blob through a repository it may see
    response = v2.get(f"/v2/{world.repo(world.app)}/blobs/{digest}", headers=world.basic("viewer"))
    assert_oci_error(response, 404, "BLOB_UNKNOWN")


def test_keys_and_tokens_never_reach_the_log_or_error_details(
    world: World, v2: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    repo = world.repo(world.app)
    token = token_for(v2, world, "viewer", f"repository:{repo}:pull")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    bodies = [
        v2.get(f"/v2/{repo}/manifests/latest", headers=bearer(forged)).text,
        v2.get(f"/v2/{repo}/manifests/latest", headers=world.basic("blind")).text,
        v2.get(f"/v2/{repo}/manifests/latest", headers={"Authorization": f"Basic {world.keys['viewer']}"}).text,
        v2.get("/v2/token", headers={"Authorization": "Basic " + base64.b64encode(b"u:imgsrc_wrong").decode()}).text,
    ]
    v2.get(f"/v2/{repo}/manifests/latest", headers=bearer(token))
    for secret in (token, forged, world.keys["viewer"], world.keys["blind"], "imgsrc_wrong"):
        assert secret not in caplog.text
        for body in bodies:
            assert secret not in body
