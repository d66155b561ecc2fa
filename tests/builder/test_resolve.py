"""Locating the context directory and the Dockerfile inside a fetched tree, and refusing escapes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgsrc.builder import resolve_context
from imgsrc.errors import BuildError, InvalidArgumentError


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "services" / "api").mkdir(parents=True)
    (root / "docker").mkdir()
    (root / "Dockerfile").write_text("FROM scratch\n")
    (root / "services" / "api" / "Dockerfile").write_text("FROM scratch\n")
    (root / "services" / "api" / "Custom.dockerfile").write_text("FROM scratch\n")
    (root / "docker" / "api.Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "Dockerfile").write_text("FROM scratch\n")
    (root / "escape-dir").symlink_to(tmp_path / "outside")
    (root / "escape-file").symlink_to(tmp_path / "outside" / "Dockerfile")
    (root / "inner-link").symlink_to("services/api")
    return root


@pytest.mark.parametrize(
    ("context_dir", "build_file", "context", "dockerfile"),
    [
        (None, None, ".", "Dockerfile"),
        ("", "", ".", "Dockerfile"),
        ("/", None, ".", "Dockerfile"),
        ("services/api", None, "services/api", "services/api/Dockerfile"),
        ("/services/api/", "Custom.dockerfile", "services/api", "services/api/Custom.dockerfile"),
        ("/services/api", "/docker/api.Dockerfile", "services/api", "docker/api.Dockerfile"),
        ("inner-link", None, "services/api", "services/api/Dockerfile"),
        ("services/./api", "./Dockerfile", "services/api", "services/api/Dockerfile"),
    ],
)
def test_locations(tree: Path, context_dir: str | None, build_file: str | None, context: str, dockerfile: str) -> None:
    got_context, got_dockerfile = resolve_context(tree, context_dir, build_file)
    assert got_context == (tree / context).resolve()
    assert got_dockerfile == (tree / dockerfile).resolve()


@pytest.mark.parametrize(
    ("context_dir", "build_file"),
    [
        ("..", None),
        ("services/../..", None),
        (None, "../outside/Dockerfile"),
        ("/escape-dir", None),
        (None, "escape-file"),
        ("services", "/escape-dir/Dockerfile"),
        ("a\x00b", None),
    ],
)
def test_escapes_are_invalid_arguments(tree: Path, context_dir: str | None, build_file: str | None) -> None:
    with pytest.raises(InvalidArgumentError):
        resolve_context(tree, context_dir, build_file)


def test_missing_pieces_are_build_errors(tree: Path) -> None:
    with pytest.raises(BuildError, match="does not exist"):
        resolve_context(tree, "nope", None)
    with pytest.raises(BuildError, match="no Dockerfile found at 'Missing'"):
        resolve_context(tree, None, "Missing")
    with pytest.raises(BuildError, match="no Dockerfile found at 'Dockerfile' in 'docker'"):
        resolve_context(tree, "docker", None)
    with pytest.raises(BuildError, match="no Dockerfile"):
        resolve_context(tree, None, "services")  # a directory is no Dockerfile


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=200)
@given(context_dir=st.text(alphabet="ab./-_", max_size=12), build_file=st.text(alphabet="ab./-_D", max_size=12))
def test_whatever_is_accepted_stays_inside_the_root(tree: Path, context_dir: str, build_file: str) -> None:
    try:
        context, dockerfile = resolve_context(tree, context_dir, build_file)
    except (InvalidArgumentError, BuildError):
        return
    root = tree.resolve()
    assert context.is_relative_to(root)
    assert dockerfile.is_relative_to(root)
