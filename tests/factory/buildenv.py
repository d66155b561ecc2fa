"""Fixtures of the build tests: a busybox base image in a registry standing in for Docker Hub, the same image in
the Basic-auth registry (a private ``FROM``), git repositories of Dockerfiles served over smart HTTP behind Basic
auth and over ssh, a loopback server for ``.tar.gz`` contexts, and a factory whose builds pull from those.

Import the fixtures into a test module by name (pytest finds them there).
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.factory.conftest import Factory, FactoryMaker
from tests.support.baseimage import BaseImage, make_busybox_layout, push_image
from tests.support.fileserver import FileServer, serve_files
from tests.support.git import Commit, GitHttpServer, make_repo, serve_git_http
from tests.support.registry import RunningRegistry
from tests.support.sshd import KeyPair, RunningSshd, make_keypair, start_sshd

GIT_USER = "builder"
GIT_PASSWORD = "git-Passw0rd-never-logged"
SSH_PASSPHRASE = "ssh passphrase never logged"

APP_DOCKERFILE = (
    "FROM busybox\n"
    "ARG GREETING=unset\n"
    'RUN echo "greeting=$GREETING" > /greeting && echo build-step-ran\n'
    "COPY hello.txt /hello.txt\n"
    'LABEL org.example.built="yes"\n'
    'CMD ["cat", "/greeting"]\n'
)
MULTI_STAGE = (
    "FROM busybox AS compile\n"
    "RUN echo compiled-in-stage-one > /artifact\n"
    "FROM busybox\n"
    "COPY --from=compile /artifact /artifact\n"
)
FAILING = "FROM busybox\nRUN echo about-to-fail && exit 3\n"


def sleeping_dockerfile(marker: str) -> str:
    """A build that runs for five minutes unless stopped; ``marker`` finds its processes."""
    return f"FROM busybox\nRUN sleep 300 && echo {marker}\n"


@dataclass(frozen=True)
class BuildWorld:
    """Everything the build tests reach: ``hub`` (anonymous, Docker Hub's stand-in, holds library/busybox),
    ``private`` (Basic auth, holds ``private_ref``), the git servers and the repository paths."""

    hub: RunningRegistry
    private: RunningRegistry
    private_ref: str
    base: BaseImage
    git_root: Path
    git_http: GitHttpServer

    def repo_url(self, name: str = "app.git") -> str:
        return self.git_http.repo_url(name)

    def repo(self, name: str = "app.git", **fields: object) -> dict[str, object]:
        """A ``repo`` origin detail for the authenticated HTTP server."""
        auth = {"type": "http", "credentials": {"username": GIT_USER, "password": GIT_PASSWORD}}
        return {"url": self.repo_url(name), "auth": auth, **fields}


@pytest.fixture(scope="session")
def build_world(
    registry: RunningRegistry, basic_registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BuildWorld]:
    base = make_busybox_layout(tmp_path_factory.mktemp("busybox") / "layout")
    push_image(base, registry, "library/busybox", "latest", tmp_path_factory.mktemp("push-hub"))
    private_ref = push_image(base, basic_registry, "private/busybox", "1", tmp_path_factory.mktemp("push-private"))
    root = tmp_path_factory.mktemp("git")
    files = {
        "Dockerfile": APP_DOCKERFILE,
        "hello.txt": "hello from git\n",
        "Dockerfile.multi": MULTI_STAGE,
        "Dockerfile.fail": FAILING,
        "Dockerfile.private": f"FROM {private_ref}\nRUN echo private-base-ok > /private\n",
    }
    make_repo(root / "app.git", [Commit(files, symlinks={"outside": "/etc/passwd"}, tag="v1")])
    with serve_git_http(root, username=GIT_USER, password=GIT_PASSWORD, allow_filter=True) as server:
        yield BuildWorld(registry, basic_registry, private_ref, base, root, server)


@pytest.fixture
def builder(make_factory: FactoryMaker, build_world: BuildWorld) -> Iterator[Factory]:
    """A server whose builds pull ``FROM busybox`` from the stand-in Docker Hub; no retries, short limits."""
    with make_factory(
        dockerhub_registry_url=build_world.hub.url, retries=0, build_timeout_seconds=120.0, http_timeout_seconds=10.0
    ) as factory:
        yield factory


@dataclass(frozen=True)
class SshWorld:
    sshd: RunningSshd
    key: KeyPair


@pytest.fixture(scope="session")
def ssh_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshWorld]:
    key = make_keypair(tmp_path_factory.mktemp("keys"), "builder", passphrase=SSH_PASSPHRASE)
    with start_sshd(tmp_path_factory.mktemp("sshd"), [key.public_key]) as sshd:
        yield SshWorld(sshd, key)


# --- tarball contexts -----------------------------------------------------------------------------------------


def context_targz(files: dict[str, str], *, hostile: bool = False) -> bytes:
    """A ``.tar.gz`` build context; ``hostile`` adds an entry that climbs out of the root."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        names = [*sorted(files), *(["../escaped.txt"] if hostile else [])]
        for name in names:
            data = files.get(name, "escaped\n").encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), mtime=0)


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    """Serves the files a test puts in ``file_server.files``."""
    with serve_files() as server:
        yield server


# --- processes ------------------------------------------------------------------------------------------------


def processes_with(marker: str) -> list[int]:
    """PIDs of live processes whose command line contains ``marker``."""
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path("/proc", entry, "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline and int(entry) != os.getpid():
            found.append(int(entry))
    return found
