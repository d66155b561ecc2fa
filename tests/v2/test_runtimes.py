"""Container runtimes pull live images from imgsrc unchanged: podman (with an auth file) and containerd (``ctr``,
the runtime of Kubernetes nodes), both negotiating the Bearer-token flow themselves. What they store has the
digests that were imported; what a key may not pull, they cannot pull."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.containerd import RunningContainerd
from tests.v2.conftest import World, podman_argv

pytestmark = [pytest.mark.registry, pytest.mark.slow]


def podman(world: World, storage: Path, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``podman`` with its own vfs storage under ``storage``; ``pull`` gets the key's auth file."""
    argv = [*podman_argv(storage), args[0]]
    if args[0] == "pull":
        argv += ["--tls-verify=false", "--authfile", str(world.authfile(key, storage))]
    return subprocess.run([*argv, *args[1:]], capture_output=True, text=True, timeout=120, check=False)


def ctr_pull(containerd: RunningContainerd, world: World, key: str, reference: str) -> str:
    return containerd.pull(reference, user=f"anyone:{world.keys[key]}")


def test_podman_pulls_by_tag_and_by_digest(world: World, podman_storage: Path) -> None:
    latest = f"{world.host}/{world.repo(world.app)}:latest"
    pulled = podman(world, podman_storage, "viewer", "pull", f"docker://{latest}")
    assert pulled.returncode == 0, pulled.stderr[-2000:]
    inspected = podman(world, podman_storage, "viewer", "image", "inspect", latest)
    assert json.loads(inspected.stdout)[0]["Digest"] == world.app.latest.manifest_digest
    by_digest = f"{world.host}/{world.repo(world.dock, by_id=True)}@{world.dock.latest.manifest_digest}"
    assert podman(world, podman_storage, "viewer", "pull", f"docker://{by_digest}").returncode == 0


def test_podman_is_refused_what_the_key_may_not_pull(world: World, podman_storage: Path) -> None:
    guarded = f"docker://{world.host}/{world.repo(world.guarded)}:latest"
    refused = podman(world, podman_storage, "viewer", "pull", guarded)
    assert refused.returncode != 0
    assert world.keys["viewer"] not in refused.stderr
    assert podman(world, podman_storage, "insider", "pull", guarded).returncode == 0


def test_containerd_pulls_and_unpacks(containerd: RunningContainerd, world: World) -> None:
    reference = f"{world.host}/{world.repo(world.app)}:{world.app.image_ids[0]}"
    assert ctr_pull(containerd, world, "viewer", reference) == world.app.pushed[0].manifest_digest
    docker_typed = f"{world.host}/{world.repo(world.dock)}:latest"
    assert ctr_pull(containerd, world, "viewer", docker_typed) == world.dock.latest.manifest_digest


def test_containerd_is_refused_another_hubs_image(containerd: RunningContainerd, world: World) -> None:
    foreign = f"{world.host}/{world.repo(world.secret)}:latest"
    refused = containerd.ctr(
        "images", "pull", "--plain-http", "--snapshotter", "native", "--user", f"anyone:{world.keys['admin']}", foreign
    )
    assert refused.returncode != 0
    assert "not found" in refused.stderr.lower() or "unknown" in refused.stderr.lower()
