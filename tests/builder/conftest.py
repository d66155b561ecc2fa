"""Fixtures of the builder tests: settings, real git servers (smart HTTP with and without Basic auth, protocol
v0), a real sshd, real registries with a busybox base image in them, and a one-coroutine runner.

Each test owns its event loop (:func:`run`), as in the other adapter tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from tests.support.baseimage import BaseImage, make_busybox_layout, push_image
from tests.support.git import Commit, GitHttpServer, make_repo, serve_git_http
from tests.support.registry import RunningRegistry, basic_registry, registry

from imgsrc.settings import Settings

__all__ = ["basic_registry", "registry"]

T = TypeVar("T")

GIT_PASSWORD = "s3cret-git-Passw0rd"
DOCKERFILE = "FROM scratch\nCOPY a /a\n"


def run(coro: Awaitable[T]) -> T:
    """Run one coroutine to completion on a fresh event loop."""

    async def main() -> T:
        return await coro

    return asyncio.run(main())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for one test: no retries (failures are asserted, not waited out), a short build limit."""
    return Settings(data_dir=tmp_path / "data", retries=0, build_timeout_seconds=120.0, http_timeout_seconds=10.0)


@dataclass(frozen=True)
class GitRepos:
    """The served repositories: ``r.git`` (default branch ``main``) and ``t.git`` (default branch ``trunk``);
    ``shas`` maps ``main@0``, ``main``, ``dev``, ``tag:v1``… of ``r.git`` to commit hashes."""

    root: Path
    shas: dict[str, str]


@pytest.fixture(scope="session")
def git_repos(tmp_path_factory: pytest.TempPathFactory) -> GitRepos:
    """History of r.git: main@0 (tag v1, annotated; tag v1-light) → main@1 → dev@0 (branched from main@1)
    and main@2. Every commit has a Dockerfile and a file ``a`` whose content says which commit it is."""
    root = tmp_path_factory.mktemp("git-repos")
    shas = make_repo(
        root / "r.git",
        [
            Commit({"Dockerfile": DOCKERFILE, "a": "main@0"}, tag="v1", annotated=True),
            Commit({"a": "main@1"}, tag="v1-light"),
            Commit({"a": "dev@0", "only-on-dev": "yes"}, branch="dev"),
            Commit({"a": "main@2"}, branch="main"),
        ],
    )
    make_repo(root / "t.git", [Commit({"a": "trunk@0"}, branch="trunk")], default_branch="trunk")
    return GitRepos(root, shas)


@pytest.fixture(scope="session")
def git_http(git_repos: GitRepos) -> Iterator[GitHttpServer]:
    """Anonymous smart HTTP, protocol v2, partial clone allowed."""
    with serve_git_http(git_repos.root, allow_filter=True) as server:
        yield server


@pytest.fixture(scope="session")
def git_http_auth(git_repos: GitRepos) -> Iterator[GitHttpServer]:
    """Smart HTTP behind Basic auth (user ``builder``, password :data:`GIT_PASSWORD`)."""
    with serve_git_http(git_repos.root, username="builder", password=GIT_PASSWORD, allow_filter=True) as server:
        yield server


@pytest.fixture(scope="session")
def git_http_v0(git_repos: GitRepos) -> Iterator[GitHttpServer]:
    """Protocol v0 only, no ``allowReachableSHA1InWant``, no partial clone: a commit cannot be fetched by hash."""
    with serve_git_http(git_repos.root, protocol_v2=False) as server:
        yield server


@pytest.fixture(scope="session")
def busybox_image(tmp_path_factory: pytest.TempPathFactory) -> BaseImage:
    return make_busybox_layout(tmp_path_factory.mktemp("busybox") / "layout")


@dataclass(frozen=True)
class PrivateBase:
    """The busybox image in the Basic-auth registry (``reference``), and the registry."""

    reference: str
    registry: RunningRegistry


@pytest.fixture(scope="session")
def private_base(
    basic_registry: RunningRegistry, busybox_image: BaseImage, tmp_path_factory: pytest.TempPathFactory
) -> PrivateBase:
    reference = push_image(busybox_image, basic_registry, "private/busybox", "1", tmp_path_factory.mktemp("push"))
    return PrivateBase(reference, basic_registry)


@pytest.fixture(scope="session")
def fake_hub(
    registry: RunningRegistry, busybox_image: BaseImage, tmp_path_factory: pytest.TempPathFactory
) -> RunningRegistry:
    """The anonymous registry standing in for Docker Hub, holding ``library/busybox:latest``."""
    push_image(busybox_image, registry, "library/busybox", "latest", tmp_path_factory.mktemp("push-hub"))
    return registry
