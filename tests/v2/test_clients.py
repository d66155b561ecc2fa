"""Real registry clients pull live images from imgsrc unchanged: skopeo (containers/image, as podman uses) and
buildah, with credentials in auth files (never argv) and the Bearer-token flow they negotiate themselves."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from tests.support.storage import storage_args
from tests.v2.conftest import World

pytestmark = [pytest.mark.registry, pytest.mark.slow]


def run(argv: list[str], *, ok: bool = True, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if ok:
        assert done.returncode == 0, f"{argv[:3]} failed: {done.stderr[-2000:]}"
    return done


def skopeo(world: World, tmp_path: Path, key: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    authfile = world.authfile(key, tmp_path)
    return run(["skopeo", args[0], "--authfile", str(authfile), *args[1:]], ok=ok)


def digest_of_file(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def oci_manifest_digest(layout: Path) -> str:
    index = json.loads((layout / "index.json").read_text())
    (entry,) = index["manifests"]
    return str(entry["digest"])


def test_skopeo_inspects_with_the_token_flow(world: World, tmp_path: Path) -> None:
    ref = f"docker://{world.host}/{world.repo(world.app)}:{world.app.image_ids[0]}"
    raw = skopeo(world, tmp_path, "viewer", "inspect", "--tls-verify=false", "--raw", ref).stdout
    assert raw.encode() == world.app.pushed[0].manifest_bytes
    info = json.loads(skopeo(world, tmp_path, "viewer", "inspect", "--tls-verify=false", ref).stdout)
    assert info["Digest"] == world.app.pushed[0].manifest_digest
    assert info["Layers"] == world.app.pushed[0].layer_digests
    assert sorted(info["RepoTags"]) == sorted([*world.app.image_ids, "latest"])


@pytest.mark.parametrize("tag", ["image-id", "latest"])
def test_skopeo_copies_an_image_byte_for_byte(world: World, tmp_path: Path, tag: str) -> None:
    reference = world.app.image_ids[0] if tag == "image-id" else "latest"
    pushed = world.app.pushed[0] if tag == "image-id" else world.app.latest
    layout = tmp_path / "out"
    source = f"docker://{world.host}/{world.repo(world.app)}:{reference}"
    skopeo(world, tmp_path, "viewer", "copy", "--src-tls-verify=false", "--preserve-digests", source, f"oci:{layout}")
    assert oci_manifest_digest(layout) == pushed.manifest_digest
    blobs = layout / "blobs" / "sha256"
    for digest in (pushed.manifest_digest, pushed.config_digest, *pushed.layer_digests):
        assert digest_of_file(blobs / digest.removeprefix("sha256:")) == digest


def test_skopeo_copies_a_docker_image_by_digest(world: World, tmp_path: Path) -> None:
    pushed = world.dock.latest
    source = f"docker://{world.host}/{world.repo(world.dock, by_id=True)}@{pushed.manifest_digest}"
    target = tmp_path / "dir"
    skopeo(world, tmp_path, "admin", "copy", "--src-tls-verify=false", source, f"dir:{target}")
    assert (target / "manifest.json").read_bytes() == pushed.manifest_bytes


def test_skopeo_copy_all_of_an_image_imported_from_an_index_gets_its_platform_image(
    world: World, tmp_path: Path
) -> None:
    """imgsrc keeps the platform it chose (linux/amd64) and not the index: ``--all`` copies that one image."""
    pushed = world.multi.latest.children["linux/amd64"]
    layout = tmp_path / "all"
    source = f"docker://{world.host}/{world.repo(world.multi)}:latest"
    skopeo(world, tmp_path, "viewer", "copy", "--all", "--src-tls-verify=false", source, f"oci:{layout}")
    assert oci_manifest_digest(layout) == pushed.manifest_digest
    for digest in pushed.layer_digests:
        assert (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).exists()


def test_skopeo_lists_tags(world: World, tmp_path: Path) -> None:
    ref = f"docker://{world.host}/{world.repo(world.app)}"
    listed = json.loads(skopeo(world, tmp_path, "viewer", "list-tags", "--tls-verify=false", ref).stdout)
    assert listed["Tags"] == sorted([*world.app.image_ids, "latest"])


def test_skopeo_login_checks_the_key(world: World, tmp_path: Path) -> None:
    authfile = tmp_path / "login.json"
    login = subprocess.run(
        ["skopeo", "login", "--tls-verify=false", "--authfile", str(authfile), "--username", "anyone",
         "--password-stdin", world.host],
        input=world.keys["viewer"] + "\n", capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    assert world.host in json.loads(authfile.read_text())["auths"]
    refused = subprocess.run(
        ["skopeo", "login", "--tls-verify=false", "--authfile", str(tmp_path / "no.json"), "--username", "anyone",
         "--password-stdin", world.host],
        input="imgsrc_not-a-key\n", capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode != 0


def test_skopeo_is_refused_what_the_key_may_not_pull(world: World, tmp_path: Path) -> None:
    guarded = f"docker://{world.host}/{world.repo(world.guarded)}:latest"
    refused = skopeo(world, tmp_path, "viewer", "inspect", "--tls-verify=false", "--raw", guarded, ok=False)
    assert refused.returncode != 0
    assert world.keys["viewer"] not in refused.stderr
    assert skopeo(world, tmp_path, "insider", "inspect", "--tls-verify=false", "--raw", guarded).stdout
    foreign = f"docker://{world.host}/{world.repo(world.secret)}:latest"
    assert skopeo(world, tmp_path, "admin", "inspect", "--tls-verify=false", "--raw", foreign, ok=False).returncode
    assert skopeo(world, tmp_path, "other", "inspect", "--tls-verify=false", "--raw", foreign).stdout


def test_skopeo_cannot_push(world: World, tmp_path: Path) -> None:
    layout = tmp_path / "out"
    source = f"docker://{world.host}/{world.repo(world.dock)}:latest"
    skopeo(world, tmp_path, "admin", "copy", "--src-tls-verify=false", source, f"oci:{layout}")
    target = f"docker://{world.host}/{world.repo(world.dock)}:pushed"
    pushed = skopeo(world, tmp_path, "admin", "copy", "--dest-tls-verify=false", f"oci:{layout}", target, ok=False)
    assert pushed.returncode != 0


@pytest.mark.buildah
def test_buildah_pulls_and_makes_a_working_container(world: World, tmp_path: Path) -> None:
    storage = storage_args(tmp_path)
    authfile = str(world.authfile("viewer", tmp_path))
    pushed = world.app.latest
    ref = f"docker://{world.host}/{world.repo(world.app)}:latest"
    image_id = run(["buildah", *storage, "pull", "--quiet", "--tls-verify=false", "--authfile", authfile, ref])
    inspected = json.loads(run(["buildah", *storage, "inspect", "--type", "image", image_id.stdout.strip()]).stdout)
    assert inspected["FromImageDigest"] == pushed.manifest_digest
    by_digest = f"docker://{world.host}/{world.repo(world.dock)}@{world.dock.latest.manifest_digest}"
    container = run(
        ["buildah", *storage, "from", "--quiet", "--tls-verify=false", "--authfile", authfile, by_digest]
    ).stdout.strip()
    assert container
    described = json.loads(run(["buildah", *storage, "inspect", "--type", "container", container]).stdout)
    assert described["FromImageDigest"] == world.dock.latest.manifest_digest
    run(["buildah", *storage, "rm", container])
