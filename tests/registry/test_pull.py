"""Pulling from a real registry (docker-registry) with ``RegistryClient``: anonymous, Basic and Bearer-token
registries, Docker and OCI manifests, multi-arch selection with the index digest, HEAD before GET, and refusal
of schema 1, unknown media types and oversized manifests served by a lying registry (fault proxy)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from imgsrc.errors import IntegrityError, RegistryError, UpstreamAuthError, UpstreamNotFoundError
from imgsrc.registry import Platform, RegistryClient, ResolvedImage, StaticCredentials, UnchangedImage, parse_config
from imgsrc.registry.client import MAX_INDEX_ENTRIES, registry_base_url
from imgsrc.registry.manifests import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST
from imgsrc.settings import Settings
from tests.registry.conftest import ClientFactory, run
from tests.support.faults import manifest_path, start_fault_proxy
from tests.support.images import GeneratedImage, push_image, push_index
from tests.support.registry import RunningRegistry

pytestmark = pytest.mark.registry


async def _resolve(
    client: RegistryClient, repo: str, ref: str = "latest", platform: str | None = None
) -> ResolvedImage:
    async with client:
        resolved = await client.resolve(repo, ref, platform)
    assert isinstance(resolved, ResolvedImage)
    return resolved


def _assert_matches(resolved: ResolvedImage, image: GeneratedImage) -> None:
    assert resolved.manifest_digest == image.manifest_digest
    assert resolved.manifest == image.manifest_bytes
    assert resolved.config.digest == image.config_digest
    assert [d.digest for d in resolved.layers] == image.layer_digests
    assert [d.size for d in resolved.layers] == image.layer_sizes


@pytest.mark.parametrize("flavour", ["oci", "docker"])
def test_resolve_single_platform_image_on_anonymous_registry(
    registry: RunningRegistry, tmp_path: Path, make_client: ClientFactory, flavour: str
) -> None:
    image = push_image(registry, tmp_path, f"pull/single-{flavour}", flavour=flavour)  # type: ignore[arg-type]
    resolved = run(_resolve(make_client(registry), f"pull/single-{flavour}"))
    _assert_matches(resolved, image)
    assert resolved.media_type == (OCI_MANIFEST if flavour == "oci" else DOCKER_MANIFEST)
    assert resolved.digest == image.manifest_digest
    assert resolved.index_digest is None


@pytest.mark.parametrize(("flavour", "index_type"), [("oci", OCI_INDEX), ("docker", DOCKER_MANIFEST_LIST)])
def test_multi_arch_selects_the_platform_and_records_the_index_digest(
    registry: RunningRegistry, tmp_path: Path, make_client: ClientFactory, flavour: str, index_type: str
) -> None:
    image = push_index(registry, tmp_path, f"pull/multi-{flavour}", flavour=flavour)  # type: ignore[arg-type]
    for platform in ("linux/arm64", "linux/arm/v7"):
        resolved = run(_resolve(make_client(registry), f"pull/multi-{flavour}", platform=platform))
        _assert_matches(resolved, image.children[platform])
        assert resolved.index_digest == image.index_digest
        assert resolved.digest == image.index_digest
        assert str(resolved.platform) == platform
    # the default platform comes from the settings
    default = run(_resolve(make_client(registry), f"pull/multi-{flavour}"))
    assert default.manifest_digest == image.children["linux/amd64"].manifest_digest


def test_missing_platform_is_a_registry_error_naming_the_platform(
    registry: RunningRegistry, tmp_path: Path, make_client: ClientFactory
) -> None:
    push_index(registry, tmp_path, "pull/noplat", platforms=("linux/amd64", "linux/arm64"))
    with pytest.raises(RegistryError, match="linux/s390x"):
        run(_resolve(make_client(registry), "pull/noplat", platform="linux/s390x"))


def test_resolve_by_digest_and_config_layer_count(
    registry: RunningRegistry, tmp_path: Path, make_client: ClientFactory
) -> None:
    image = push_image(registry, tmp_path, "pull/bydigest", layer_sizes=(10, 20, 30))

    async def scenario() -> None:
        async with make_client(registry) as client:
            resolved = await client.resolve("pull/bydigest", image.manifest_digest)
            assert isinstance(resolved, ResolvedImage)
            config = await client.fetch_small_blob("pull/bydigest", resolved.config)
            assert config == image.config_bytes
            parsed = parse_config(config, resolved.layers, where="test")
            assert list(parsed.diff_ids) == [layer.diff_id for layer in image.layers]

    run(scenario())


def test_basic_registry_with_credentials(
    basic_registry: RunningRegistry, tmp_path: Path, make_client: ClientFactory
) -> None:
    image = push_image(basic_registry, tmp_path, "pull/basic")
    _assert_matches(run(_resolve(make_client(basic_registry), "pull/basic")), image)


def test_basic_registry_refuses_anonymous_and_wrong_password_without_leaking_it(
    basic_registry: RunningRegistry, tmp_path: Path, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    push_image(basic_registry, tmp_path, "pull/basic-refused")
    with pytest.raises(UpstreamAuthError, match="401"):
        run(_resolve(make_client(basic_registry.url), "pull/basic-refused"))
    secret = "wrong-password-Zq81"
    with pytest.raises(UpstreamAuthError) as info:
        run(_resolve(make_client(basic_registry, StaticCredentials("alice", secret)), "pull/basic-refused"))
    assert basic_registry.host in str(info.value)
    for text in (str(info.value), repr(info.value), caplog.text):
        assert secret not in text
        assert str(basic_registry.password) not in text


def test_token_registry_anonymous_pull_and_authenticated_pull(
    token_registry: RunningRegistry, tmp_path: Path, make_client: ClientFactory
) -> None:
    image = push_image(token_registry, tmp_path, "pull/token")
    _assert_matches(run(_resolve(make_client(token_registry.url), "pull/token")), image)
    _assert_matches(run(_resolve(make_client(token_registry), "pull/token")), image)


def test_unknown_repository_and_tag_are_not_found(registry: RunningRegistry, make_client: ClientFactory) -> None:
    async def scenario() -> None:
        async with make_client(registry) as client:
            assert await client.head_manifest("pull/nothing-here", "latest") is None
            with pytest.raises(UpstreamNotFoundError, match="pull/nothing-here:latest"):
                await client.resolve("pull/nothing-here", "latest")
            with pytest.raises(UpstreamNotFoundError):
                await client.get_manifest("pull/nothing-here", "sha256:" + "0" * 64)

    run(scenario())


def test_reimport_of_an_unchanged_tag_costs_one_head_and_no_get(
    registry: RunningRegistry, tmp_path: Path, make_client: ClientFactory
) -> None:
    image = push_image(registry, tmp_path, "pull/unchanged")
    path = re.escape("/v2/pull/unchanged/manifests/") + r"[^/]+"
    with start_fault_proxy(registry.url) as proxy:

        async def scenario() -> None:
            async with make_client(proxy.url) as client:
                first = await client.resolve("pull/unchanged", "latest", known=lambda d: False)
                assert isinstance(first, ResolvedImage)
                mark = proxy.mark()
                again = await client.resolve("pull/unchanged", "latest", known={first.digest}.__contains__)
                assert again == UnchangedImage(image.manifest_digest, None, image.manifest_digest)
                assert proxy.count("HEAD", path, since=mark) == 1
                assert proxy.count("GET", path, since=mark) == 0
                assert len(proxy.requests_since(mark)) == 1

        run(scenario())
        # the first resolve also started with HEAD, then one GET by digest
        methods = [(r.method, r.path.rsplit("/", 1)[-1]) for r in proxy.requests]
        assert methods[:2] == [("HEAD", "latest"), ("GET", image.manifest_digest)]


def test_index_that_changed_but_whose_platform_manifest_is_known_skips_the_manifest_get(
    registry: RunningRegistry, tmp_path: Path, make_client: ClientFactory
) -> None:
    image = push_index(registry, tmp_path, "pull/index-known")
    amd64 = image.children["linux/amd64"].manifest_digest
    with start_fault_proxy(registry.url) as proxy:

        async def scenario() -> None:
            async with make_client(proxy.url) as client:
                result = await client.resolve("pull/index-known", "latest", "linux/amd64", known={amd64}.__contains__)
                assert result == UnchangedImage(image.index_digest or "", image.index_digest, amd64)

        run(scenario())
        assert proxy.count("GET", manifest_path("pull/index-known", amd64)) == 0
        assert proxy.count("GET", manifest_path("pull/index-known", image.index_digest or "")) == 1


@pytest.mark.parametrize(
    ("fault", "message"),
    [("schema1", "schema 1"), ("unknown", "unsupported manifest media type"), ("huge", "limit")],
)
def test_lying_registry_manifests_are_refused(
    registry: RunningRegistry, tmp_path: Path, make_client: ClientFactory, fault: str, message: str
) -> None:
    push_image(registry, tmp_path, f"pull/lying-{fault}")
    path = re.escape(f"/v2/pull/lying-{fault}/manifests/") + ".+"
    with start_fault_proxy(registry.url) as proxy:
        if fault == "schema1":
            proxy.schema1_manifest(path)
        elif fault == "unknown":
            proxy.unknown_media_type(path)
        else:
            proxy.huge_manifest(path)
        with pytest.raises(RegistryError, match=message):
            run(_resolve(make_client(proxy.url), f"pull/lying-{fault}"))


def test_manifest_whose_content_does_not_match_its_digest_is_an_integrity_error(
    registry: RunningRegistry, tmp_path: Path, make_client: ClientFactory
) -> None:
    image = push_image(registry, tmp_path, "pull/wrong-digest")
    other = json.loads(image.manifest_bytes)
    other["annotations"] = {"tampered": "yes"}
    with start_fault_proxy(registry.url) as proxy:
        proxy.replace(
            manifest_path("pull/wrong-digest", image.manifest_digest),
            json.dumps(other).encode(),
            OCI_MANIFEST,
            method="GET",
            digest=image.manifest_digest,
        )
        with pytest.raises(IntegrityError, match="digest"):
            run(_resolve(make_client(proxy.url), "pull/wrong-digest"))


def test_docker_io_goes_to_the_configured_hub_endpoint(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, dockerhub_registry_url="http://127.0.0.1:5999/")
    assert registry_base_url("docker.io", settings) == "http://127.0.0.1:5999"
    assert registry_base_url("ghcr.io", settings) == "https://ghcr.io"
    assert registry_base_url("localhost:5000", settings, scheme="http") == "http://localhost:5000"


def test_platform_argument_accepts_a_platform_object(
    registry: RunningRegistry, tmp_path: Path, make_client: ClientFactory
) -> None:
    image = push_index(registry, tmp_path, "pull/platform-object")

    async def scenario() -> ResolvedImage:
        async with make_client(registry) as client:
            resolved = await client.resolve("pull/platform-object", "latest", Platform("linux", "arm64"))
            assert isinstance(resolved, ResolvedImage)
            return resolved

    assert run(scenario()).manifest_digest == image.children["linux/arm64"].manifest_digest


async def _resolve_whole(client: RegistryClient, repo: str, known: frozenset[str] = frozenset()) -> object:
    async with client:
        return await client.resolve(repo, "latest", "linux/amd64", known=known.__contains__, all_platforms=True)


def test_all_platforms_keeps_the_index_and_fetches_every_entry(
    registry: RunningRegistry, tmp_path: Path, make_client: ClientFactory
) -> None:
    image = push_index(registry, tmp_path, "pull/whole", attestation=True)
    resolved = run(_resolve_whole(make_client(registry), "pull/whole"))
    assert isinstance(resolved, ResolvedImage)
    assert resolved.index is not None
    assert resolved.index.raw == image.index_bytes
    assert resolved.index.digest == image.index_digest
    assert resolved.manifest_digest == image.children["linux/amd64"].manifest_digest
    others = {o.digest: o for o in resolved.others}
    for platform in ("linux/arm64", "linux/arm/v7"):
        child = image.children[platform]
        assert others[child.manifest_digest].raw == child.manifest_bytes
        assert others[child.manifest_digest].is_image
        assert str(others[child.manifest_digest].platform) == platform
    (attestation,) = image.extra_manifests
    assert not others[attestation].is_image
    assert [o.digest for o in resolved.others] == [
        image.children["linux/arm64"].manifest_digest,
        image.children["linux/arm/v7"].manifest_digest,
        attestation,
    ]
    every_layer = {d for child in image.children.values() for d in child.layer_digests}
    assert every_layer <= {d.digest for d in resolved.all_blobs}
    assert len({d.digest for d in resolved.all_blobs}) == len(resolved.all_blobs)


def test_all_platforms_counts_only_the_index_as_known(
    registry: RunningRegistry, tmp_path: Path, make_client: ClientFactory
) -> None:
    """A known platform manifest inside a changed index is not enough: the other platforms may have changed."""
    image = push_index(registry, tmp_path, "pull/whole-known")
    amd64 = image.children["linux/amd64"].manifest_digest
    assert isinstance(run(_resolve_whole(make_client(registry), "pull/whole-known", frozenset({amd64}))), ResolvedImage)
    index = image.index_digest or ""
    assert run(_resolve_whole(make_client(registry), "pull/whole-known", frozenset({index}))) == UnchangedImage(
        index, index, index
    )


def test_all_platforms_keeps_one_platform_of_an_index_inside_an_index(
    registry: RunningRegistry, tmp_path: Path, make_client: ClientFactory
) -> None:
    image = push_index(registry, tmp_path, "pull/nested")
    nested = json.loads(image.index_bytes or b"{}")
    nested["manifests"].append(
        {"mediaType": OCI_INDEX, "digest": image.index_digest, "size": len(image.index_bytes or b"")}
    )
    body = json.dumps(nested).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    with start_fault_proxy(registry.url) as proxy:
        proxy.replace(manifest_path("pull/nested", "latest"), body, OCI_INDEX, digest=digest)
        proxy.replace(manifest_path("pull/nested", digest), body, OCI_INDEX, digest=digest)
        resolved = run(_resolve_whole(make_client(proxy.url), "pull/nested"))
    assert isinstance(resolved, ResolvedImage)
    assert resolved.index is None
    assert resolved.others == ()
    assert "an index inside the index" in (resolved.index_note or "")
    assert resolved.manifest_digest == image.children["linux/amd64"].manifest_digest


def test_all_platforms_leaves_foreign_layers_where_the_manifest_says_they_are(
    registry: RunningRegistry, tmp_path: Path, make_client: ClientFactory
) -> None:
    """A Windows-style entry whose layer is foreign (served from its ``urls``, not by the registry) is kept in
    the index, and its foreign layer is not among the blobs to copy; as with ``skopeo copy --all``."""
    image = push_index(registry, tmp_path, "pull/foreign", platforms=("linux/amd64", "linux/arm64"))
    arm64 = image.children["linux/arm64"]
    child = json.loads(arm64.manifest_bytes)
    foreign = {
        "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "digest": "sha256:" + "f" * 64,
        "size": 1234,
        "urls": ["https://mcr.example.invalid/layer"],
    }
    child["layers"].append(foreign)
    child_body = json.dumps(child).encode()
    child_digest = "sha256:" + hashlib.sha256(child_body).hexdigest()
    index = json.loads(image.index_bytes or b"{}")
    for entry in index["manifests"]:
        if entry["digest"] == arm64.manifest_digest:
            entry.update(digest=child_digest, size=len(child_body))
    index_body = json.dumps(index).encode()
    index_digest = "sha256:" + hashlib.sha256(index_body).hexdigest()
    with start_fault_proxy(registry.url) as proxy:
        for reference in ("latest", index_digest):
            proxy.replace(manifest_path("pull/foreign", reference), index_body, OCI_INDEX, digest=index_digest)
        proxy.replace(manifest_path("pull/foreign", child_digest), child_body, OCI_MANIFEST, digest=child_digest)
        resolved = run(_resolve_whole(make_client(proxy.url), "pull/foreign"))
    assert isinstance(resolved, ResolvedImage)
    (other,) = resolved.others
    assert other.digest == child_digest
    assert foreign["digest"] in [d.digest for d in other.layers]
    assert foreign["digest"] not in [d.digest for d in resolved.all_blobs]
    assert set(arm64.layer_digests) <= {d.digest for d in resolved.all_blobs}


def test_all_platforms_does_not_keep_an_index_listing_too_many_manifests(
    registry: RunningRegistry, tmp_path: Path, make_client: ClientFactory
) -> None:
    """A hostile index cannot make the import fetch thousands of manifests: not kept whole, nothing but the
    chosen platform fetched."""
    image = push_index(registry, tmp_path, "pull/huge-index", platforms=("linux/amd64",))
    index = json.loads(image.index_bytes or b"{}")
    index["manifests"] += [
        {
            "mediaType": OCI_MANIFEST,
            "digest": f"sha256:{n:064x}",
            "size": 500,
            "platform": {"os": "linux", "architecture": f"a{n}"},
        }
        for n in range(1, MAX_INDEX_ENTRIES + 1)
    ]
    body = json.dumps(index).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    with start_fault_proxy(registry.url) as proxy:
        for reference in ("latest", digest):
            proxy.replace(manifest_path("pull/huge-index", reference), body, OCI_INDEX, digest=digest)
        resolved = run(_resolve_whole(make_client(proxy.url), "pull/huge-index"))
        assert proxy.count("GET", manifest_path("pull/huge-index", "sha256:" + "0" * 63 + "1")) == 0
    assert isinstance(resolved, ResolvedImage)
    assert resolved.index is None
    assert f"more than the {MAX_INDEX_ENTRIES}" in (resolved.index_note or "")


def test_all_platforms_keeps_one_platform_when_an_entry_is_missing_upstream(
    registry: RunningRegistry, tmp_path: Path, make_client: ClientFactory
) -> None:
    """A partial mirror (an index whose arm64 manifest the registry lacks): the chosen platform is imported and
    the note says why the index was not kept; a transport failure would still fail the import."""
    image = push_index(registry, tmp_path, "pull/partial")
    arm64 = image.children["linux/arm64"].manifest_digest
    with start_fault_proxy(registry.url) as proxy:
        proxy.status(manifest_path("pull/partial", arm64), 404, times=None)
        resolved = run(_resolve_whole(make_client(proxy.url), "pull/partial"))
    assert isinstance(resolved, ResolvedImage)
    assert resolved.index is None
    assert arm64 in (resolved.index_note or "")
    assert resolved.manifest_digest == image.children["linux/amd64"].manifest_digest
