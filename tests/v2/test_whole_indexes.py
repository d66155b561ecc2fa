"""With ``IMGSRC_IMPORT_ALL_PLATFORMS`` the index of a multi-arch import is served byte for byte: skopeo
``copy --all`` gets every platform and the attestation with their upstream digests, a runtime of another
architecture gets its own platform, and every manifest answers by digest. Real server, real skopeo and buildah."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_settings
from tests.support.containerd import RunningContainerd
from tests.support.images import GeneratedImage, push_index
from tests.support.registry import RunningRegistry, write_authfile
from tests.support.server import live_server
from tests.support.storage import storage_args
from tests.v2.conftest import Imgsrc, podman_argv
from tests.v2.test_clients import digest_of_file, run

pytestmark = [pytest.mark.registry, pytest.mark.slow]


@dataclass
class Whole:
    host: str
    repo: str
    image_id: str
    pushed: GeneratedImage
    authfile: Path
    basic: tuple[str, str]


@pytest.fixture(scope="module")
def whole(registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Whole]:
    work = tmp_path_factory.mktemp("v2-whole")
    pushed = push_index(registry, work, "v2whole/multi", attestation=True, layer_sizes=(3000, 2000))
    with live_server(make_settings(work / "data", import_all_platforms=True)) as server:
        api = Imgsrc(server.url, server.hub_id, server.api_key)
        try:
            source = api.source(registry, "v2whole/multi:latest", name="Multi")
            image_id = api.import_image(source["id"])
        finally:
            api.close()
        host = server.url.removeprefix("http://")
        yield Whole(
            host=host,
            repo=f"{server.hub_id}/{source['identifier']}",
            image_id=image_id,
            pushed=pushed,
            authfile=write_authfile(work / "auth.json", host, "anyone", server.api_key),
            basic=("anyone", server.api_key),
        )


def skopeo(whole: Whole, *args: str) -> str:
    return run(["skopeo", args[0], "--authfile", str(whole.authfile), *args[1:]]).stdout


@pytest.mark.parametrize("tag", ["latest", "image-id"])
def test_a_tag_names_the_index_byte_for_byte(whole: Whole, tag: str) -> None:
    reference = "latest" if tag == "latest" else whole.image_id
    raw = skopeo(whole, "inspect", "--tls-verify=false", "--raw", f"docker://{whole.host}/{whole.repo}:{reference}")
    assert raw.encode() == whole.pushed.index_bytes


def test_skopeo_copy_all_gets_every_platform_and_the_attestation(whole: Whole, tmp_path: Path) -> None:
    layout = tmp_path / "all"
    source = f"docker://{whole.host}/{whole.repo}:latest"
    skopeo(whole, "copy", "--all", "--preserve-digests", "--src-tls-verify=false", source, f"oci:{layout}")
    (entry,) = json.loads((layout / "index.json").read_text())["manifests"]
    assert entry["digest"] == whole.pushed.index_digest
    blobs = layout / "blobs" / "sha256"
    for digest in whole.pushed.every_digest:
        assert digest_of_file(blobs / digest.removeprefix("sha256:")) == digest


@pytest.mark.parametrize(("arch", "variant", "platform"), [("arm64", "", "linux/arm64"), ("arm", "v7", "linux/arm/v7")])
def test_a_client_of_another_architecture_gets_its_platform(
    whole: Whole, tmp_path: Path, arch: str, variant: str, platform: str
) -> None:
    layout = tmp_path / "one"
    override = ["--override-arch", arch, "--override-os", "linux"]
    if variant:
        override += ["--override-variant", variant]
    source = f"docker://{whole.host}/{whole.repo}:latest"
    run(["skopeo", *override, "copy", "--authfile", str(whole.authfile), "--src-tls-verify=false", source,
         f"oci:{layout}"])  # fmt: skip
    (entry,) = json.loads((layout / "index.json").read_text())["manifests"]
    assert entry["digest"] == whole.pushed.children[platform].manifest_digest


def test_every_document_answers_by_digest_with_its_media_type(whole: Whole) -> None:
    documents = {whole.pushed.index_digest or "": (whole.pushed.index_bytes, whole.pushed.media_type)}
    for child in whole.pushed.children.values():
        documents[child.manifest_digest] = (child.manifest_bytes, child.media_type)
    (attestation,) = whole.pushed.extra_manifests
    with httpx.Client(base_url=f"http://{whole.host}", auth=whole.basic, timeout=30) as v2:
        for digest, (raw, media_type) in documents.items():
            answer = v2.get(f"/v2/{whole.repo}/manifests/{digest}")
            assert answer.status_code == 200, answer.text
            assert answer.content == raw
            assert answer.headers["content-type"] == media_type
            assert answer.headers["docker-content-digest"] == digest
        assert v2.head(f"/v2/{whole.repo}/manifests/{attestation}").status_code == 200


@pytest.mark.buildah
def test_buildah_pulls_the_default_platform_from_the_index(whole: Whole, tmp_path: Path) -> None:
    storage = storage_args(tmp_path)
    ref = f"docker://{whole.host}/{whole.repo}:latest"
    pulled = run(["buildah", *storage, "pull", "--quiet", "--tls-verify=false", "--authfile", str(whole.authfile),
                  "--platform", "linux/amd64", ref])  # fmt: skip
    inspected = json.loads(run(["buildah", *storage, "inspect", "--type", "image", pulled.stdout.strip()]).stdout)
    assert inspected["FromImageDigest"] == whole.pushed.children["linux/amd64"].manifest_digest
    assert inspected["OCIv1"]["architecture"] == "amd64"


@pytest.mark.parametrize("platform", ["linux/amd64", "linux/arm64"])
def test_containerd_pulls_the_index_and_unpacks_its_platform(
    containerd: RunningContainerd, whole: Whole, platform: str
) -> None:
    """containerd records the index (what the tag names) and unpacks the platform it asked for."""
    reference = f"{whole.host}/{whole.repo}:{whole.image_id}"
    digest = containerd.pull(reference, user=":".join(whole.basic), platform_args=("--platform", platform))
    assert digest == whole.pushed.index_digest
    content = containerd.ctr("content", "ls", "--quiet").stdout.split()
    assert set(whole.pushed.children[platform].layer_digests) <= set(content)


def test_containerd_fetches_every_platform(containerd: RunningContainerd, whole: Whole) -> None:
    """``ctr content fetch --all-platforms`` gets every blob of the index, attestation included. (``ctr images
    pull --all-platforms`` would also try to unpack the attestation's in-toto layer, which containerd 1.6
    cannot: its own limitation, whatever the registry.)"""
    reference = f"{whole.host}/{whole.repo}:latest"
    fetched = containerd.ctr(
        "content", "fetch", "--plain-http", "--user", ":".join(whole.basic), "--all-platforms", reference
    )
    assert fetched.returncode == 0, fetched.stderr[-2000:]
    content = set(containerd.ctr("content", "ls", "--quiet").stdout.split())
    assert whole.pushed.every_digest <= content


def test_podman_of_another_architecture_pulls_its_platform(whole: Whole, podman_storage: Path) -> None:
    base = podman_argv(podman_storage)
    reference = f"{whole.host}/{whole.repo}:latest"
    run([*base, "pull", "--tls-verify=false", "--authfile", str(whole.authfile), "--platform", "linux/arm64",
         f"docker://{reference}"])  # fmt: skip
    (image,) = json.loads(run([*base, "image", "inspect", reference]).stdout)
    assert image["Architecture"] == "arm64"
    assert image["Digest"] == whole.pushed.index_digest
