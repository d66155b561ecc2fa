"""OCI image layouts, uploaded as tars or read from a build's output directory: platform choice and checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imgsrc.archives import LocalImage, UploadLimits, read_image_archive, read_oci_layout_dir
from imgsrc.errors import ArchiveError, IntegrityError
from tests.support.archives import (
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Entry,
    Image,
    blob_entry,
    descriptor,
    file,
    hardlink,
    hexof,
    image_blob_entries,
    index_doc,
    make_image,
    multi_platform_entries,
    oci_layout_entries,
    one_way,
    replace_data,
    sha256,
    tar_bytes,
    without,
    write_entries,
)

LIMITS = UploadLimits(max_bytes=1 << 24, max_entries=1000)
AMD64 = {"os": "linux", "architecture": "amd64"}
ARM64 = {"os": "linux", "architecture": "arm64", "variant": "v8"}


def read(tmp_path: Path, entries: list[Entry], *, compress: bool = False, platform: str = "linux/amd64") -> LocalImage:
    data = tar_bytes(entries, compress=compress)
    return read_image_archive(one_way(data), tmp_path / "staging", LIMITS, platform=platform)


def refuse(tmp_path: Path, entries: list[Entry], error: type[Exception], match: str) -> None:
    staging = tmp_path / "staging"
    with pytest.raises(error, match=match):
        read_image_archive(one_way(tar_bytes(entries)), staging, LIMITS)
    assert not staging.exists()


def two_platforms() -> tuple[Image, Image]:
    return make_image({"arch": b"amd64"}), make_image({"arch": b"arm64"}, architecture="arm64")


def manifest_entry_name(image: Image) -> str:
    return f"blobs/sha256/{hexof(image.manifest_digest)}"


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_reads_an_oci_layout_tar_keeping_the_manifest_bytes(tmp_path: Path, compress: bool) -> None:
    image = make_image({"a": b"1"}, {"b": b"2"}, gzip_layers=True)
    local = read(tmp_path, oci_layout_entries(image, ref_name="v1.2"), compress=compress)
    assert local.source_format == "oci-layout"
    assert local.manifest == image.manifest
    assert local.manifest_digest == image.manifest_digest
    assert local.manifest_media_type == OCI_MANIFEST
    assert local.config == image.config
    assert local.tags == ("v1.2",)
    assert local.index_digest is None
    assert [layer.descriptor.media_type for layer in local.layers] == [OCI_LAYER_GZIP] * 2
    assert [layer.path.read_bytes() for layer in local.layers] == list(image.layers)


def test_a_multi_platform_index_yields_the_default_platform(tmp_path: Path) -> None:
    amd, arm = two_platforms()
    entries = multi_platform_entries([(arm, ARM64), (amd, AMD64)])
    local = read(tmp_path, entries)
    assert local.manifest_digest == amd.manifest_digest
    nested = next(e for e in entries if e.name.startswith("blobs/") and b'"platform"' in e.data)
    assert local.index_digest == sha256(nested.data)


def test_another_platform_can_be_asked_for(tmp_path: Path) -> None:
    amd, arm = two_platforms()
    local = read(tmp_path, multi_platform_entries([(amd, AMD64), (arm, ARM64)]), platform="linux/arm64")
    assert local.manifest_digest == arm.manifest_digest


def test_the_only_image_is_taken_whatever_its_platform(tmp_path: Path) -> None:
    _amd, arm = two_platforms()
    assert read(tmp_path, multi_platform_entries([(arm, ARM64)])).manifest_digest == arm.manifest_digest


def test_no_image_for_the_platform_among_several_is_refused(tmp_path: Path) -> None:
    amd, arm = two_platforms()
    s390x = {"os": "linux", "architecture": "s390x"}
    riscv = {"os": "linux", "architecture": "riscv64"}
    refuse(tmp_path, multi_platform_entries([(amd, s390x), (arm, riscv)]), ArchiveError, "no image for platform")


def test_attestation_manifests_are_never_chosen(tmp_path: Path) -> None:
    amd, _arm = two_platforms()
    attestation = make_image({"att": b"in-toto"})
    entries = multi_platform_entries(
        [(amd, AMD64), (attestation, {"os": "unknown", "architecture": "unknown"})],
    )
    assert read(tmp_path, entries, platform="linux/s390x").manifest_digest == amd.manifest_digest


def test_a_partial_export_missing_other_platforms_is_fine(tmp_path: Path) -> None:
    amd, arm = two_platforms()
    local = read(tmp_path, multi_platform_entries([(amd, AMD64), (arm, ARM64)], leave_out=[1]))
    assert local.manifest_digest == amd.manifest_digest


def test_the_wanted_platform_listed_but_absent_is_refused(tmp_path: Path) -> None:
    amd, arm = two_platforms()
    entries = multi_platform_entries([(amd, AMD64), (arm, ARM64)], leave_out=[0])
    refuse(tmp_path, entries, ArchiveError, f"manifest {amd.manifest_digest} is missing")


def test_several_images_at_the_top_are_refused(tmp_path: Path) -> None:
    amd, arm = two_platforms()
    entries = [
        file("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
        *image_blob_entries(amd),
        *image_blob_entries(arm),
        file("index.json", index_doc([descriptor(amd.manifest, OCI_MANIFEST), descriptor(arm.manifest, OCI_MANIFEST)])),
    ]
    refuse(tmp_path, entries, ArchiveError, "lists 2 images; an archive must hold exactly one image")


def test_one_image_listed_under_two_names_is_one_image(tmp_path: Path) -> None:
    image = make_image({"a": b"1"})
    names = [{"org.opencontainers.image.ref.name": n} for n in ("1.0", "latest")]
    entries = [
        file("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
        *image_blob_entries(image),
        file("index.json", index_doc([descriptor(image.manifest, OCI_MANIFEST, annotations=a) for a in names])),
    ]
    assert read(tmp_path, entries).tags == ("1.0", "latest")


# --- lies ------------------------------------------------------------------------------------------------------


def test_a_blob_that_does_not_hash_to_its_name_is_refused(tmp_path: Path) -> None:
    image = make_image({"a": b"1"})
    entries = oci_layout_entries(image)
    layer = f"blobs/sha256/{hexof(image.layer_digests[0])}"
    refuse(tmp_path, replace_data(entries, layer, b"evil"), IntegrityError, "content hashes to")


def test_a_blob_name_linked_to_other_content_is_refused(tmp_path: Path) -> None:
    image = make_image({"a": b"1"})
    layer = f"blobs/sha256/{hexof(image.layer_digests[0])}"
    entries = without(oci_layout_entries(image), layer)
    entries[1:1] = [file("other", b"evil"), hardlink(layer, "other")]
    refuse(tmp_path, entries, IntegrityError, "content hashes to")


def test_a_manifest_naming_an_absent_layer_is_refused(tmp_path: Path) -> None:
    image = make_image({"a": b"1"}, {"b": b"2"})
    layer = f"blobs/sha256/{hexof(image.layer_digests[1])}"
    refuse(tmp_path, without(oci_layout_entries(image), layer), ArchiveError, "layer 1 .* is missing")


def test_an_index_naming_an_absent_manifest_is_refused(tmp_path: Path) -> None:
    image = make_image({"a": b"1"})
    entries = without(oci_layout_entries(image), manifest_entry_name(image))
    refuse(tmp_path, entries, ArchiveError, "manifest .* is missing")


def relist(image: Image, manifest: dict[str, object]) -> list[Entry]:
    """A layout whose manifest is replaced by ``manifest`` (and index.json updated to match it)."""
    data = json.dumps(manifest).encode()
    entries = without(oci_layout_entries(image), manifest_entry_name(image))
    entries = replace_data(entries, "index.json", index_doc([descriptor(data, OCI_MANIFEST)]))
    return [*entries, blob_entry(data)]


def test_a_size_that_does_not_match_the_descriptor_is_refused(tmp_path: Path) -> None:
    image = make_image({"a": b"1"})
    doc = json.loads(image.manifest)
    doc["layers"][0]["size"] += 1
    refuse(tmp_path, relist(image, doc), IntegrityError, "layer 0 .* bytes, not")


def test_a_manifest_descriptor_with_the_wrong_size_is_refused(tmp_path: Path) -> None:
    image = make_image({"a": b"1"})
    wrong = {**descriptor(image.manifest, OCI_MANIFEST), "size": len(image.manifest) - 1}
    entries = replace_data(oci_layout_entries(image), "index.json", index_doc([wrong]))
    refuse(tmp_path, entries, IntegrityError, "manifest .* bytes, not")


def test_diff_ids_that_do_not_match_uncompressed_layers_are_refused(tmp_path: Path) -> None:
    image = make_image({"a": b"1"}, diff_ids=[sha256(b"something else")])
    refuse(tmp_path, oci_layout_entries(image), IntegrityError, "does not match the config's diff_id")


def test_a_diff_id_count_mismatch_is_refused(tmp_path: Path) -> None:
    image = make_image({"a": b"1"}, gzip_layers=True, diff_ids=[])
    refuse(tmp_path, oci_layout_entries(image), IntegrityError, "0 diff_ids but the manifest has 1 layers")


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda d: d.update(mediaType=OCI_INDEX), ArchiveError, "declares media type"),
        (lambda d: d["layers"][0].update(mediaType="text/plain"), ArchiveError, "unsupported media type"),
        (lambda d: d["config"].update(mediaType="application/x-artifact"), ArchiveError, "not a container image"),
        (lambda d: d["layers"][0].update(digest="sha256:../../../etc/passwd"), ArchiveError, "malformed digest"),
        (lambda d: d["layers"][0].update(digest="sha512:" + "a" * 128), ArchiveError, "sha256 only"),
        (lambda d: d["layers"][0].update(size=-1), ArchiveError, "negative size"),
        (lambda d: d["layers"][0].update(size=True), ArchiveError, "wrong type"),
        (lambda d: d.update(schemaVersion=1), ArchiveError, "schemaVersion"),
        (lambda d: d.pop("layers"), ArchiveError, "'layers' is missing"),
    ],
)
def test_malformed_manifests_are_refused(tmp_path: Path, change: object, error: type[Exception], match: str) -> None:
    image = make_image({"a": b"1"})
    doc = json.loads(image.manifest)
    change(doc)  # type: ignore[operator]
    refuse(tmp_path, relist(image, doc), error, match)


def test_an_unknown_layout_version_is_refused(tmp_path: Path) -> None:
    entries = replace_data(oci_layout_entries(make_image()), "oci-layout", b'{"imageLayoutVersion":"2.0.0"}')
    refuse(tmp_path, entries, ArchiveError, "imageLayoutVersion")


def test_oversized_documents_are_refused_without_being_read(tmp_path: Path) -> None:
    image = make_image({"a": b"1"})
    big = {**descriptor(image.manifest, OCI_MANIFEST), "size": 1 << 30}
    entries = replace_data(oci_layout_entries(image), "index.json", index_doc([big]))
    refuse(tmp_path, entries, ArchiveError, "over the .* byte limit")


# --- layout directories (build output) -----------------------------------------------------------------------


def test_reads_a_layout_directory_in_place(tmp_path: Path) -> None:
    image = make_image({"a": b"1"}, {"b": b"2"})
    root = write_entries(tmp_path / "layout", oci_layout_entries(image))
    local = read_oci_layout_dir(root)
    assert local.manifest == image.manifest
    assert [layer.path for layer in local.layers] == [root / "blobs" / "sha256" / hexof(d) for d in image.layer_digests]


def test_a_layout_directory_with_several_platforms_yields_the_asked_one(tmp_path: Path) -> None:
    amd, arm = two_platforms()
    root = write_entries(tmp_path / "layout", multi_platform_entries([(amd, AMD64), (arm, ARM64)]))
    assert read_oci_layout_dir(root).manifest_digest == amd.manifest_digest
    assert read_oci_layout_dir(root, platform="linux/arm64/v8").manifest_digest == arm.manifest_digest


def test_a_tampered_blob_in_a_layout_directory_is_refused(tmp_path: Path) -> None:
    image = make_image({"a": b"1"})
    root = write_entries(tmp_path / "layout", oci_layout_entries(image))
    blob = root / "blobs" / "sha256" / hexof(image.layer_digests[0])
    data = bytearray(blob.read_bytes())
    data[600] ^= 1
    blob.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="content hashes to"):
        read_oci_layout_dir(root)


def test_a_missing_or_symlinked_blob_in_a_layout_directory_is_refused(tmp_path: Path) -> None:
    image = make_image({"a": b"1"})
    root = write_entries(tmp_path / "layout", oci_layout_entries(image))
    blob = root / "blobs" / "sha256" / hexof(image.layer_digests[0])
    moved = tmp_path / "elsewhere"
    blob.rename(moved)
    with pytest.raises(ArchiveError, match=r"layer 0 .* is missing"):
        read_oci_layout_dir(root)
    blob.symlink_to(moved)
    with pytest.raises(ArchiveError, match=r"layer 0 .* is missing"):
        read_oci_layout_dir(root)


def test_a_directory_that_is_not_a_layout_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArchiveError, match="oci-layout"):
        read_oci_layout_dir(tmp_path / "empty")
