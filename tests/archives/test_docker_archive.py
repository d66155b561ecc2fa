"""Uploads of ``docker save`` archives: the image read, the manifest built, and the lies refused."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from imgsrc.archives import LocalImage, UploadLimits, read_image_archive
from imgsrc.errors import ArchiveError, IntegrityError
from tests.support.archives import (
    CHR,
    OCI_CONFIG,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Entry,
    docker_save_entries,
    file,
    hardlink,
    hexof,
    make_image,
    oci_layout_entries,
    one_way,
    replace_data,
    sha256,
    symlink,
    tar_bytes,
    without,
)

LIMITS = UploadLimits(max_bytes=1 << 24, max_entries=1000)
FILES = ({"bin/app": b"\x7fELF" + b"a" * 3000}, {"etc/conf": b"k=v\n"}, {})


def read(tmp_path: Path, entries: list[Entry], *, compress: bool = False) -> LocalImage:
    staging = tmp_path / "staging"
    return read_image_archive(one_way(tar_bytes(entries, compress=compress)), staging, LIMITS)


def refuse(tmp_path: Path, entries: list[Entry], error: type[Exception], match: str) -> None:
    """Reading must fail with ``error`` and leave no staging behind."""
    staging = tmp_path / "staging"
    with pytest.raises(error, match=match):
        read_image_archive(one_way(tar_bytes(entries)), staging, LIMITS)
    assert not staging.exists()


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_reads_a_docker_save_archive(tmp_path: Path, compress: bool) -> None:
    image = make_image(*FILES)
    local = read(tmp_path, docker_save_entries(image, tags=["example/app:1", "example/app:latest"]), compress=compress)

    assert local.source_format == "docker-archive"
    assert local.tags == ("example/app:1", "example/app:latest")
    assert local.config == image.config
    assert local.config_descriptor.digest == image.config_digest
    assert local.config_descriptor.media_type == OCI_CONFIG
    assert [layer.descriptor.digest for layer in local.layers] == image.layer_digests
    assert {layer.descriptor.media_type for layer in local.layers} == {OCI_LAYER}
    for layer, blob in zip(local.layers, image.layers, strict=True):
        assert layer.path.read_bytes() == blob
    assert local.size == len(image.config) + sum(len(blob) for blob in image.layers)


def test_the_built_manifest_is_an_oci_manifest_describing_the_blobs(tmp_path: Path) -> None:
    image = make_image(*FILES)
    local = read(tmp_path, docker_save_entries(image))
    assert local.manifest_media_type == OCI_MANIFEST
    assert local.manifest_digest == "sha256:" + hashlib.sha256(local.manifest).hexdigest()
    doc = json.loads(local.manifest)
    assert doc["schemaVersion"] == 2
    assert doc["mediaType"] == OCI_MANIFEST
    assert doc["config"] == {"mediaType": OCI_CONFIG, "digest": image.config_digest, "size": len(image.config)}
    assert [layer["digest"] for layer in doc["layers"]] == image.layer_digests
    assert [layer["size"] for layer in doc["layers"]] == [len(blob) for blob in image.layers]


def test_staging_keeps_exactly_the_layer_blobs(tmp_path: Path) -> None:
    image = make_image(*FILES)
    local = read(tmp_path, docker_save_entries(image))
    kept = sorted(
        p.relative_to(tmp_path / "staging").as_posix() for p in (tmp_path / "staging").rglob("*") if p.is_file()
    )
    assert kept == sorted(f"blobs/sha256/{hexof(d)}" for d in set(image.layer_digests))
    assert all(layer.path.parent == tmp_path / "staging" / "blobs" / "sha256" for layer in local.layers)


def test_layers_linked_inside_the_archive_are_followed(tmp_path: Path) -> None:
    """skopeo and docker link ``<id>/layer.tar`` to the file holding the layer."""
    image = make_image(*FILES)
    local = read(tmp_path, docker_save_entries(image, link_layers=True))
    assert [layer.descriptor.digest for layer in local.layers] == image.layer_digests


def test_the_same_layer_twice_is_stored_once_and_listed_twice(tmp_path: Path) -> None:
    image = make_image({"a": b"same"}, {"a": b"same"})
    local = read(tmp_path, docker_save_entries(image))
    assert local.layers[0].descriptor == local.layers[1].descriptor
    assert len(list((tmp_path / "staging" / "blobs" / "sha256").iterdir())) == 1


def test_gzip_layers_are_kept_compressed_and_typed_by_magic(tmp_path: Path) -> None:
    image = make_image(*FILES, gzip_layers=True)
    local = read(tmp_path, docker_save_entries(image))
    assert {layer.descriptor.media_type for layer in local.layers} == {OCI_LAYER_GZIP}
    assert [layer.descriptor.digest for layer in local.layers] == image.layer_digests


def test_docker_25_archives_keep_their_own_manifest_and_repo_tags(tmp_path: Path) -> None:
    """Docker 25+ writes an OCI layout *and* a manifest.json: the layout's manifest is stored byte for byte."""
    image = make_image(*FILES)
    local = read(tmp_path, oci_layout_entries(image, docker_manifest=True))
    assert local.source_format == "oci-layout"
    assert local.manifest == image.manifest
    assert local.manifest_digest == image.manifest_digest
    assert local.tags == ("example/app:25",)


def test_an_image_without_tags_or_layers_is_read(tmp_path: Path) -> None:
    image = make_image(diff_ids=[])
    doc = [{"Config": f"{hexof(image.config_digest)}.json", "RepoTags": None, "Layers": []}]
    local = read(tmp_path, docker_save_entries(image, manifest=doc))
    assert local.tags == ()
    assert local.layers == ()
    assert json.loads(local.manifest)["layers"] == []


# --- lies and refusals -----------------------------------------------------------------------------------------


def test_several_images_are_refused(tmp_path: Path) -> None:
    image = make_image(*FILES)
    entries = docker_save_entries(image)
    doc = json.loads(next(e.data for e in entries if e.name == "manifest.json"))
    entries = replace_data(entries, "manifest.json", json.dumps(doc * 2).encode())
    refuse(tmp_path, entries, ArchiveError, "lists 2 images; an archive must hold exactly one image")


def test_a_layer_missing_from_the_archive_is_refused(tmp_path: Path) -> None:
    image = make_image(*FILES)
    entries = docker_save_entries(image)
    layer_name = next(e.name for e in entries if e.name.endswith("/layer.tar"))
    refuse(tmp_path, without(entries, layer_name), ArchiveError, "layer.*missing")


def test_a_layer_whose_content_differs_from_the_diff_id_is_refused(tmp_path: Path) -> None:
    image = make_image(*FILES)
    entries = docker_save_entries(image)
    layer_name = next(e.name for e in entries if e.name.endswith("/layer.tar"))
    tampered = replace_data(entries, layer_name, tar_bytes([file("bin/app", b"trojan")]))
    refuse(tmp_path, tampered, IntegrityError, "layer 0 .* does not match the config's diff_id")


def test_a_gzip_layer_whose_content_differs_from_the_diff_id_is_refused(tmp_path: Path) -> None:
    image = make_image(*FILES, gzip_layers=True)
    entries = docker_save_entries(image)
    layer_name = next(e.name for e in entries if e.name.endswith("/layer.tar"))
    tampered = replace_data(entries, layer_name, gzip.compress(tar_bytes([file("x", b"other")])))
    refuse(tmp_path, tampered, IntegrityError, "does not match the config's diff_id")


def test_fewer_diff_ids_than_layers_is_refused(tmp_path: Path) -> None:
    image = make_image(*FILES, diff_ids=[sha256(b"only one")])
    refuse(tmp_path, docker_save_entries(image), IntegrityError, "lists 1 diff_ids but the manifest has 3 layers")


def test_a_config_that_does_not_hash_to_its_name_is_refused(tmp_path: Path) -> None:
    image = make_image(*FILES)
    entries = docker_save_entries(image)
    config_name = f"{hexof(image.config_digest)}.json"
    lying = image.config.replace(b"/bin/sh", b"/bin/evil")
    refuse(tmp_path, replace_data(entries, config_name, lying), IntegrityError, "config .* hashes to")


@pytest.mark.parametrize(
    ("config", "match"),
    [(b"not json", "not valid JSON"), (b"[]", "not a JSON object"), (b'{"rootfs": {"type": "x"}}', "rootfs.type")],
)
def test_a_config_that_is_not_an_image_config_is_refused(tmp_path: Path, config: bytes, match: str) -> None:
    image = make_image(*FILES)
    entries = docker_save_entries(image)
    old_name = f"{hexof(image.config_digest)}.json"
    doc = json.loads(next(e.data for e in entries if e.name == "manifest.json"))
    doc[0]["Config"] = "config.json"
    entries = replace_data(entries, "manifest.json", json.dumps(doc).encode())
    entries = [Entry("config.json", config) if e.name == old_name else e for e in entries]
    refuse(tmp_path, entries, ArchiveError, match)


def test_duplicate_keys_in_documents_are_refused(tmp_path: Path) -> None:
    """Parsers disagree on which duplicate wins; such a document is refused rather than guessed at."""
    image = make_image(*FILES)
    entries = docker_save_entries(image)
    doc = next(e.data for e in entries if e.name == "manifest.json").decode()
    doubled = doc.replace('"Layers":', '"Layers": [], "Layers":').encode()
    refuse(tmp_path, replace_data(entries, "manifest.json", doubled), ArchiveError, "duplicate key 'Layers'")


@pytest.mark.parametrize("path", ["../outside.json", "/etc/passwd", "a/../../b"])
def test_documents_cannot_point_outside_the_archive(tmp_path: Path, path: str) -> None:
    image = make_image(*FILES)
    entries = docker_save_entries(image)
    doc = json.loads(next(e.data for e in entries if e.name == "manifest.json"))
    doc[0]["Config"] = path
    entries = replace_data(entries, "manifest.json", json.dumps(doc).encode())
    refuse(tmp_path, entries, ArchiveError, "config .*: refused path")


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (symlink("escape", ".."), "'escape'.*outside"),
        (symlink("abs", "/etc/passwd"), "'abs'.*symlink target"),
        (hardlink("h", "../etc/passwd"), "'h'.*hard link"),
        (file("../evil", b"x"), r"'\.\.' component"),
        (file("/evil", b"x"), "absolute path"),
        (Entry("dev/zero", type=CHR), "character device"),
    ],
)
def test_hostile_entries_in_an_upload_are_refused(tmp_path: Path, extra: Entry, match: str) -> None:
    refuse(tmp_path, [*docker_save_entries(make_image(*FILES)), extra], ArchiveError, match)


def test_an_archive_that_is_neither_format_is_refused(tmp_path: Path) -> None:
    refuse(tmp_path, [file("README", b"hello")], ArchiveError, "neither a docker save archive")


def test_a_truncated_upload_is_refused_and_staging_cleaned(tmp_path: Path) -> None:
    data = tar_bytes(docker_save_entries(make_image(*FILES)))
    staging = tmp_path / "staging"
    for cut in (len(data) // 3, len(data) - 1024 - 7):
        with pytest.raises(ArchiveError, match="truncated"):
            read_image_archive(one_way(data[:cut]), staging, LIMITS)
        assert not staging.exists()


def test_an_existing_empty_staging_directory_is_left_empty_on_failure(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    with pytest.raises(ArchiveError):
        read_image_archive(one_way(tar_bytes([file("x", b"1" * 5000)])), staging, LIMITS)
    assert staging.is_dir()
    assert list(staging.iterdir()) == []


def test_a_non_empty_staging_directory_is_a_caller_error(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "other").write_bytes(b"x")
    with pytest.raises(FileExistsError):
        read_image_archive(one_way(tar_bytes([file("x")])), staging, LIMITS)
    assert (staging / "other").exists()
