"""The shared registry test harness works: registries start in each auth mode, images push with the digests
the generator computed, the token service grants what it should, and the fault proxy does what its rules say.
(Plain httpx here on purpose: the harness must be trustworthy independently of imgsrc's own client.)"""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from tests.support.faults import blob_path, manifest_path, start_fault_proxy
from tests.support.images import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    make_layer,
    push_image,
    push_index,
)
from tests.support.registry import RunningRegistry, start_registry

pytestmark = pytest.mark.registry

ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST])


def _token(reg: RunningRegistry, scope: str, *, creds: tuple[str, str] | None) -> httpx.Response:
    assert reg.token_server is not None
    return httpx.get(reg.token_realm or "", params={"service": reg.token_server.service, "scope": scope}, auth=creds)


def test_anonymous_registry_serves_pushed_oci_image_with_generated_digests(
    registry: RunningRegistry, tmp_path: Path
) -> None:
    img = push_image(registry, tmp_path, "harness/oci", layer_sizes=(100, 3000))
    resp = httpx.get(f"{registry.url}/v2/harness/oci/manifests/latest", headers={"Accept": ACCEPT})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == OCI_MANIFEST
    assert resp.headers["docker-content-digest"] == img.manifest_digest
    assert resp.content == img.manifest_bytes
    for layer in img.layers:
        blob = httpx.get(f"{registry.url}/v2/harness/oci/blobs/{layer.digest}")
        assert "sha256:" + hashlib.sha256(blob.content).hexdigest() == layer.digest
        assert len(blob.content) == layer.size


def test_docker_media_types_are_pushed_unchanged(registry: RunningRegistry, tmp_path: Path) -> None:
    img = push_image(registry, tmp_path, "harness/docker", flavour="docker")
    resp = httpx.get(f"{registry.url}/v2/harness/docker/manifests/latest", headers={"Accept": ACCEPT})
    assert resp.headers["content-type"] == DOCKER_MANIFEST
    assert resp.headers["docker-content-digest"] == img.manifest_digest


@pytest.mark.parametrize(("flavour", "media_type"), [("oci", OCI_INDEX), ("docker", DOCKER_MANIFEST_LIST)])
def test_multi_arch_index_has_three_platforms(
    registry: RunningRegistry, tmp_path: Path, flavour: str, media_type: str
) -> None:
    img = push_index(registry, tmp_path, f"harness/multi-{flavour}", flavour=flavour)  # type: ignore[arg-type]
    resp = httpx.get(f"{registry.url}/v2/harness/multi-{flavour}/manifests/latest", headers={"Accept": ACCEPT})
    assert resp.headers["content-type"] == media_type
    assert resp.headers["docker-content-digest"] == img.index_digest
    assert set(img.children) == {"linux/amd64", "linux/arm64", "linux/arm/v7"}
    digests = {entry["digest"] for entry in resp.json()["manifests"]}
    assert digests == {child.manifest_digest for child in img.children.values()}


def test_shared_layer_is_the_same_blob_in_two_images(registry: RunningRegistry, tmp_path: Path) -> None:
    shared = make_layer(tmp_path / "layers", 500)
    a = push_image(registry, tmp_path, "harness/shared-a", layers=[shared, make_layer(tmp_path, 10)])
    b = push_image(registry, tmp_path, "harness/shared-b", layers=[shared])
    assert a.layers[0].digest == b.layers[0].digest
    assert a.manifest_digest != b.manifest_digest


def test_basic_registry_refuses_anonymous_and_accepts_the_credentials(
    basic_registry: RunningRegistry, tmp_path: Path
) -> None:
    push_image(basic_registry, tmp_path, "harness/basic")
    url = f"{basic_registry.url}/v2/harness/basic/manifests/latest"
    assert httpx.get(url, headers={"Accept": ACCEPT}).status_code == 401
    assert httpx.get(url, headers={"Accept": ACCEPT}, auth=basic_registry.credentials).status_code == 200
    assert basic_registry.password
    assert basic_registry.password not in repr(basic_registry)


def test_token_service_grants_push_to_the_user_and_pull_only_to_anonymous(
    token_registry: RunningRegistry, tmp_path: Path
) -> None:
    push_image(token_registry, tmp_path, "harness/token")
    server = token_registry.token_server
    assert server is not None
    mark = server.mark()
    anon = _token(token_registry, "repository:harness/token:pull,push", creds=None).json()
    user = _token(token_registry, "repository:harness/token:pull,push", creds=token_registry.credentials).json()
    assert {"token", "access_token", "expires_in", "issued_at"} <= set(anon)
    served = server.requests_since(mark)
    assert [r.granted[0].actions for r in served] == [("pull",), ("pull", "push")]
    url = f"{token_registry.url}/v2/harness/token/manifests/latest"
    ok = httpx.get(url, headers={"Accept": ACCEPT, "Authorization": f"Bearer {anon['token']}"})
    assert ok.status_code == 200
    # anonymous tokens cannot push
    push = httpx.post(
        f"{token_registry.url}/v2/harness/token/blobs/uploads/",
        headers={"Authorization": f"Bearer {anon['token']}"},
    )
    assert push.status_code == 401
    push = httpx.post(
        f"{token_registry.url}/v2/harness/token/blobs/uploads/",
        headers={"Authorization": f"Bearer {user['token']}"},
    )
    assert push.status_code == 202


def test_token_service_refuses_wrong_password_and_bad_tokens_are_refused_by_the_registry(
    token_registry: RunningRegistry,
) -> None:
    server = token_registry.token_server
    assert server is not None
    assert _token(token_registry, "repository:x/y:pull", creds=("alice", "wrong")).status_code == 401
    server.bad_tokens = 1
    bad = _token(token_registry, "repository:x/y:pull", creds=None).json()["token"]
    good = _token(token_registry, "repository:x/y:pull", creds=None).json()["token"]
    url = f"{token_registry.url}/v2/x/y/tags/list"
    assert httpx.get(url, headers={"Authorization": f"Bearer {bad}"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {good}"}).status_code == 404  # authorised; no repo


def test_token_registry_can_refuse_anonymous_pull(tmp_path: Path) -> None:
    with start_registry(tmp_path, auth="token", token_anonymous_pull=False) as reg:
        assert _token(reg, "repository:x/y:pull", creds=None).status_code == 401
        assert _token(reg, "repository:x/y:pull", creds=reg.credentials).status_code == 200


def test_registry_process_is_stopped_on_exit(tmp_path: Path) -> None:
    with start_registry(tmp_path) as reg:
        url = reg.url
        assert httpx.get(f"{url}/v2/").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/v2/")


def test_fault_proxy_counts_and_injects(registry: RunningRegistry, tmp_path: Path) -> None:
    img = push_image(registry, tmp_path, "harness/faults", layer_sizes=(200_000,))
    layer = img.layers[0]
    with start_fault_proxy(registry.url) as proxy:
        path = blob_path("harness/faults", layer.digest)
        with httpx.Client(base_url=proxy.url) as client:
            # dropped connection after N bytes
            proxy.drop_after(path, 1000)
            with pytest.raises(httpx.RemoteProtocolError):
                client.get(f"/v2/harness/faults/blobs/{layer.digest}")
            # range resume goes through
            part = client.get(f"/v2/harness/faults/blobs/{layer.digest}", headers={"Range": "bytes=1000-"})
            assert part.status_code == 206
            assert len(part.content) == layer.size - 1000
            # 429 with Retry-After, once
            proxy.rate_limit(path, retry_after="3")
            limited = client.get(f"/v2/harness/faults/blobs/{layer.digest}")
            assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")
            # corrupt: same size, other digest
            proxy.corrupt(path)
            bad = client.get(f"/v2/harness/faults/blobs/{layer.digest}")
            assert len(bad.content) == layer.size
            assert hashlib.sha256(bad.content).hexdigest() != layer.digest.removeprefix("sha256:")
            proxy.clear_rules()
            proxy.truncate(path, 10)
            assert len(client.get(f"/v2/harness/faults/blobs/{layer.digest}").content) == 10
            proxy.clear_rules()
            proxy.wrong_content_length(path, layer.size + 5)
            with pytest.raises(httpx.RemoteProtocolError):
                client.get(f"/v2/harness/faults/blobs/{layer.digest}")
            proxy.clear_rules()
            proxy.schema1_manifest(manifest_path("harness/faults", "latest"))
            m = client.get("/v2/harness/faults/manifests/latest", headers={"Accept": ACCEPT})
            assert m.headers["content-type"].startswith("application/vnd.docker.distribution.manifest.v1")
            head = client.head("/v2/harness/faults/manifests/latest", headers={"Accept": ACCEPT})
            assert head.headers["content-type"].startswith("application/vnd.docker.distribution.manifest.v1")
            proxy.clear_rules()
            proxy.huge_manifest(manifest_path("harness/faults", "latest"))
            huge = client.get("/v2/harness/faults/manifests/latest", headers={"Accept": ACCEPT})
            assert len(huge.content) > 5 * 1024 * 1024
        assert proxy.count("GET", path) == 6
        assert proxy.count("HEAD", manifest_path("harness/faults", "latest")) == 1
        assert proxy.bytes_sent(path) == 1000 + (layer.size - 1000) + layer.size + 10 + layer.size


def test_fault_proxy_redirect_and_push_through_the_proxy(registry: RunningRegistry, tmp_path: Path) -> None:
    img = push_image(registry, tmp_path, "harness/redirect", layer_sizes=(300,))
    digest = img.layers[0].digest
    with start_fault_proxy(registry.url) as proxy, start_fault_proxy(registry.url) as storage:
        proxy.redirect(blob_path("harness/redirect", digest), storage.url)
        resp = httpx.get(f"{proxy.url}/v2/harness/redirect/blobs/{digest}", follow_redirects=True)
        assert resp.content == img.layers[0].data()
        assert proxy.count("GET", blob_path("harness/redirect", digest)) == 1
        assert storage.count("GET", blob_path("harness/redirect", digest)) == 1
        # a monolithic push through the proxy: the registry's Location points back at the proxy
        data = b"pushed through the proxy"
        digest2 = "sha256:" + hashlib.sha256(data).hexdigest()
        start = httpx.post(f"{proxy.url}/v2/harness/redirect/blobs/uploads/")
        assert start.status_code == 202
        location = start.headers["location"]
        assert location.startswith(proxy.url) or location.startswith("/")
        target = httpx.URL(proxy.url).join(location).copy_merge_params({"digest": digest2})
        done = httpx.put(target, content=data)
        assert done.status_code == 201
        assert proxy.count("PUT", r"/v2/harness/redirect/blobs/uploads/.*") == 1
