"""Manifest parsing and validation (``imgsrc.registry.manifests``): accepted media types, refusals with clear
messages, size bounds, platform selection and the config's layer count."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgsrc.errors import IntegrityError, InvalidArgumentError, RegistryError
from imgsrc.registry.manifests import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    Descriptor,
    ImageIndex,
    ImageManifest,
    Platform,
    parse_config,
    parse_manifest,
    select_platform,
)

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64


def manifest(media_type: str = OCI_MANIFEST, config_type: str = OCI_CONFIG, layer_type: str = OCI_LAYER_GZIP) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {"mediaType": config_type, "digest": D1, "size": 10},
            "layers": [{"mediaType": layer_type, "digest": D2, "size": 20}],
        }
    ).encode()


def index(entries: list[tuple[str, str, str | None]], media_type: str = OCI_INDEX) -> bytes:
    manifests = []
    for i, (os_name, arch, variant) in enumerate(entries):
        platform = {"os": os_name, "architecture": arch}
        if variant:
            platform["variant"] = variant
        manifests.append(
            {"mediaType": OCI_MANIFEST, "digest": "sha256:" + f"{i:x}" * 64, "size": 5, "platform": platform}
        )
    return json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": manifests}).encode()


@pytest.mark.parametrize(
    ("media_type", "config_type", "layer_type"),
    [
        (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER_GZIP),
        (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER_GZIP),
        (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER_ZSTD),
    ],
)
def test_docker_and_oci_manifests_parse_into_typed_descriptors(
    media_type: str, config_type: str, layer_type: str
) -> None:
    parsed = parse_manifest(manifest(media_type, config_type, layer_type), media_type, where="r/a:t")
    assert isinstance(parsed, ImageManifest)
    assert parsed.config == Descriptor(config_type, D1, 10)
    assert parsed.layers == (Descriptor(layer_type, D2, 20),)


def test_media_type_comes_from_the_body_when_the_header_is_generic() -> None:
    parsed = parse_manifest(manifest(DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER_GZIP), "application/json", where="x")
    assert parsed.media_type == DOCKER_MANIFEST


@pytest.mark.parametrize(
    "content_type",
    [
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.docker.distribution.manifest.v1+json",
    ],
)
def test_schema1_is_refused_with_a_clear_message(content_type: str) -> None:
    body = json.dumps({"schemaVersion": 1, "name": "a", "fsLayers": []}).encode()
    with pytest.raises(RegistryError, match="schema 1"):
        parse_manifest(body, content_type, where="r/a:t")
    with pytest.raises(RegistryError, match="schema 1"):
        parse_manifest(body, "application/json", where="r/a:t")


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (manifest(), "application/x-unknown", "unsupported manifest media type"),
        (manifest(config_type="application/vnd.cncf.helm.config.v1+json"), OCI_MANIFEST, "not a container image"),
        (manifest(layer_type="application/x-tar-weird"), OCI_MANIFEST, "unsupported layer media type"),
        (manifest(DOCKER_MANIFEST), OCI_MANIFEST, "says mediaType"),
        (b"{not json", OCI_MANIFEST, "not valid JSON"),
        (b"[]", OCI_MANIFEST, "not a JSON object"),
        (
            json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode(),
            OCI_MANIFEST,
            "descriptor",
        ),
        (manifest().replace(D2.encode(), b"sha256:xyz"), OCI_MANIFEST, "invalid"),
    ],
)
def test_unusable_manifests_are_refused(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        parse_manifest(body, content_type, where="r/a:t")


def test_manifest_over_the_size_bound_is_refused_before_parsing() -> None:
    body = manifest()
    with pytest.raises(RegistryError, match="more than the limit"):
        parse_manifest(body, OCI_MANIFEST, where="r/a:t", max_bytes=len(body) - 1)


@settings(deadline=None)  # a noisy shared machine must not turn slowness into failures
@given(st.binary(max_size=300), st.sampled_from([OCI_MANIFEST, OCI_INDEX, "application/json", None]))
def test_arbitrary_bytes_parse_or_raise_registry_error_only(body: bytes, content_type: str | None) -> None:
    try:
        parse_manifest(body, content_type, where="fuzz")
    except RegistryError as exc:
        assert "fuzz" in str(exc)


@pytest.mark.parametrize("media_type", [OCI_INDEX, DOCKER_MANIFEST_LIST])
def test_platform_selection_prefers_the_exact_variant(media_type: str) -> None:
    idx = parse_manifest(
        index(
            [("linux", "amd64", None), ("linux", "arm", "v6"), ("linux", "arm", "v7"), ("linux", "arm64", "v8")],
            media_type,
        ),
        media_type,
        where="x",
    )
    assert isinstance(idx, ImageIndex)
    assert select_platform(idx, Platform.parse("linux/arm/v7"), where="x").platform == Platform("linux", "arm", "v7")
    assert select_platform(idx, Platform.parse("linux/arm"), where="x").platform == Platform("linux", "arm", "v7")
    assert select_platform(idx, Platform.parse("linux/arm64"), where="x").platform == Platform("linux", "arm64", "v8")
    assert select_platform(idx, Platform.parse("linux/aarch64/v8"), where="x").platform == Platform(
        "linux", "arm64", "v8"
    )
    assert select_platform(idx, Platform.parse("linux/x86_64"), where="x").platform == Platform("linux", "amd64")


def test_missing_platform_lists_the_available_ones_and_ignores_attestations() -> None:
    idx = parse_manifest(index([("linux", "amd64", None), ("unknown", "unknown", None)]), OCI_INDEX, where="r/a")
    assert isinstance(idx, ImageIndex)
    with pytest.raises(RegistryError, match=r"linux/s390x.*available: linux/amd64, unknown/unknown"):
        select_platform(idx, Platform.parse("linux/s390x"), where="r/a")


def test_platform_parse_refuses_malformed_text() -> None:
    for text in ("linux", "linux/", "a/b/c/d", ""):
        with pytest.raises(InvalidArgumentError):
            Platform.parse(text)
    assert str(Platform.parse("Linux/ARM/v7")) == "linux/arm/v7"


def test_config_layer_count_must_match_the_manifest() -> None:
    layers = (Descriptor(OCI_LAYER_GZIP, D2, 1), Descriptor(OCI_LAYER_GZIP, D3, 1))
    config = json.dumps({"os": "linux", "architecture": "amd64", "rootfs": {"type": "layers", "diff_ids": [D1, D2]}})
    parsed = parse_config(config.encode(), layers, where="c")
    assert parsed.diff_ids == (D1, D2)
    assert (parsed.os, parsed.architecture) == ("linux", "amd64")
    with pytest.raises(IntegrityError, match="lists 2 layers"):
        parse_config(config.encode(), layers[:1], where="c")
    with pytest.raises(RegistryError, match="diff_ids"):
        parse_config(b'{"rootfs": {}}', layers, where="c")
