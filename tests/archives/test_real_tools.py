"""Cross-checks against the real tools: archives written by skopeo and layouts pushed by buildah are read
as those tools describe them, and the manifest built for a docker archive is one skopeo accepts."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from imgsrc.archives import LocalImage, UploadLimits, read_image_archive, read_oci_layout_dir
from tests.support.archives import (
    OCI_MANIFEST,
    descriptor,
    hexof,
    index_doc,
    make_image,
    oci_layout_entries,
    one_way,
    write_entries,
)
from tests.support.storage import storage_args

LIMITS = UploadLimits(max_bytes=1 << 26, max_entries=1000)
needs_skopeo = pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")


def skopeo(*args: str) -> bytes:
    return subprocess.run(["skopeo", "--insecure-policy", *args], check=True, capture_output=True, timeout=60).stdout


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def source_layout(tmp_path: Path) -> Path:
    image = make_image({"bin/app": b"\x7fELF" + b"a" * 5000}, {"etc/app.conf": b"x=1\n"})
    return write_entries(tmp_path / "src", oci_layout_entries(image, ref_name="v1"))


def write_layout(image: LocalImage, root: Path) -> Path:
    """Lay a LocalImage out as an OCI layout directory, as the store would serve it."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    (blobs / hexof(image.manifest_digest)).write_bytes(image.manifest)
    (blobs / hexof(image.config_descriptor.digest)).write_bytes(image.config)
    for layer in image.layers:
        shutil.copyfile(layer.path, blobs / hexof(layer.descriptor.digest))
    (root / "oci-layout").write_bytes(b'{"imageLayoutVersion":"1.0.0"}')
    annotations = {"org.opencontainers.image.ref.name": "t"}
    (root / "index.json").write_bytes(index_doc([descriptor(image.manifest, OCI_MANIFEST, annotations=annotations)]))
    return root


@needs_skopeo
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_skopeo_docker_archive_reads_as_skopeo_describes_it(tmp_path: Path, compress: bool) -> None:
    archive = tmp_path / "image.tar"
    skopeo("copy", f"oci:{source_layout(tmp_path)}:v1", f"docker-archive:{archive}:example/app:1")
    data = archive.read_bytes()
    local = read_image_archive(one_way(gzip.compress(data) if compress else data), tmp_path / "staging", LIMITS)

    described = json.loads(skopeo("inspect", "--raw", f"docker-archive:{archive}"))
    assert local.source_format == "docker-archive"
    assert local.tags == ("docker.io/example/app:1",)
    assert local.config_descriptor.digest == described["config"]["digest"]
    assert [layer.descriptor.digest for layer in local.layers] == [layer["digest"] for layer in described["layers"]]


@needs_skopeo
def test_the_manifest_built_for_a_docker_archive_is_accepted_by_skopeo(tmp_path: Path) -> None:
    archive = tmp_path / "image.tar"
    skopeo("copy", f"oci:{source_layout(tmp_path)}:v1", f"docker-archive:{archive}:example/app:1")
    with archive.open("rb") as stream:
        local = read_image_archive(stream, tmp_path / "staging", LIMITS)
    layout = write_layout(local, tmp_path / "served")
    assert skopeo("inspect", "--raw", f"oci:{layout}:t") == local.manifest
    skopeo("copy", f"oci:{layout}:t", f"oci:{tmp_path / 'copied'}:t")  # skopeo verifies every blob on the way


@needs_skopeo
def test_a_skopeo_oci_archive_keeps_skopeos_manifest_digest(tmp_path: Path) -> None:
    archive = tmp_path / "image.oci.tar"
    skopeo("copy", f"oci:{source_layout(tmp_path)}:v1", f"oci-archive:{archive}:v1")
    raw = skopeo("inspect", "--raw", f"oci-archive:{archive}:v1")
    with archive.open("rb") as stream:
        local = read_image_archive(stream, tmp_path / "staging", LIMITS)
    assert local.source_format == "oci-layout"
    assert local.manifest == raw
    assert local.manifest_digest == digest_of(raw)
    assert local.tags == ("v1",)


@needs_skopeo
def test_a_skopeo_layout_directory_reads_in_place(tmp_path: Path) -> None:
    out = tmp_path / "out"
    skopeo("copy", f"oci:{source_layout(tmp_path)}:v1", f"oci:{out}:v2")
    local = read_oci_layout_dir(out)
    assert local.manifest == skopeo("inspect", "--raw", f"oci:{out}:v2")
    assert all(layer.path.parent == out / "blobs" / "sha256" for layer in local.layers)


@pytest.mark.buildah
def test_a_layout_pushed_by_buildah_reads_as_buildah_wrote_it(tmp_path: Path) -> None:
    if shutil.which("buildah") is None:
        pytest.skip("buildah is not installed")
    storage = storage_args(tmp_path)

    def buildah(*args: str) -> str:
        result = subprocess.run(["buildah", *storage, *args], check=True, capture_output=True, text=True, timeout=120)
        return result.stdout.strip()

    (tmp_path / "hello.txt").write_text("hello\n")
    container = buildah("from", "scratch")
    buildah("copy", container, str(tmp_path / "hello.txt"), "/hello.txt")
    buildah("commit", "-q", container, "built:1")
    buildah("push", "-q", "built:1", f"oci:{tmp_path / 'out'}:built:1")

    local = read_oci_layout_dir(tmp_path / "out")
    index = json.loads((tmp_path / "out" / "index.json").read_bytes())
    assert local.manifest_digest == index["manifests"][0]["digest"]
    assert local.tags == ("built:1",)
    assert len(local.layers) == 1
    assert json.loads(local.config)["rootfs"]["diff_ids"]
