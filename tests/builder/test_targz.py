"""Tarball contexts served over HTTP: unpacked under the limits, hostile archives refused, download failures
named without credentials, and a tarball context built end to end."""

from __future__ import annotations

import functools
import gzip
import io
import tarfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest
from tests.builder.conftest import run
from tests.builder.ocilayout import read_layout
from tests.support.httpd import serve_in_thread

from imgsrc.builder import BuildSpec, TarballSource, build, fetch_context, resolve_context
from imgsrc.errors import ArchiveError, BuildError, InvalidArgumentError
from imgsrc.settings import Settings


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A static file server on loopback: ``(base_url, directory)``."""
    directory = tmp_path_factory.mktemp("served")
    with serve_in_thread(functools.partial(_QuietHandler, directory=str(directory)), "targz-server") as url:
        yield url, directory


def tarball(entries: list[tuple[str, bytes | None, str | None]], *, compress: bool = True) -> bytes:
    """A tar of ``(name, content, link_target)``: content for files, link_target for symlinks, neither for
    directories."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, content, target in entries:
            info = tarfile.TarInfo(name)
            if target is not None:
                info.type, info.linkname = tarfile.SYMTYPE, target
                tar.addfile(info)
            elif content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(content), 0o644
                tar.addfile(info, io.BytesIO(content))
    return gzip.compress(buf.getvalue()) if compress else buf.getvalue()


def publish(served: tuple[str, Path], name: str, data: bytes) -> str:
    base, directory = served
    (directory / name).write_bytes(data)
    return f"{base}/{name}"


def fetch(url: str, tmp_path: Path, settings: Settings) -> tuple[Path, list[str]]:
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    lines: list[str] = []
    return run(fetch_context(TarballSource(url), workdir, settings, lines.append)), lines


GOOD = [
    ("Dockerfile", b"FROM scratch\nCOPY app/ /app/\n", None),
    ("app", None, None),
    ("app/main.txt", b"main\n", None),
    ("app/link", None, "main.txt"),
]


@pytest.mark.parametrize("compress", [True, False])
def test_tarball_is_unpacked_at_the_context_root(
    served: tuple[str, Path], tmp_path: Path, settings: Settings, compress: bool
) -> None:
    url = publish(served, f"good-{compress}.tar.gz", tarball(GOOD, compress=compress))
    root, lines = fetch(url, tmp_path, settings)
    assert (root / "app" / "main.txt").read_text() == "main\n"
    assert (root / "app" / "link").is_symlink()
    assert not (tmp_path / "work" / "context.tar.download").exists(), "the downloaded archive is removed"
    assert any("4 entries" in line for line in lines)


@pytest.mark.parametrize(
    "entries",
    [
        [("../escaped.txt", b"x", None)],
        [("/abs.txt", b"x", None)],
        [("link", None, "../../outside"), ("link/file.txt", b"x", None)],
    ],
    ids=["dot-dot", "absolute", "escaping-symlink"],
)
def test_hostile_archives_are_refused(
    served: tuple[str, Path], tmp_path: Path, settings: Settings, entries: list[tuple[str, bytes | None, str | None]]
) -> None:
    url = publish(served, "hostile.tar.gz", tarball(entries))
    with pytest.raises(ArchiveError):
        fetch(url, tmp_path, settings)
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "work" / "context").exists()


def test_entry_count_limit(served: tuple[str, Path], tmp_path: Path, settings: Settings) -> None:
    settings = settings.model_copy(update={"context_max_entries": 3})
    url = publish(served, "many.tar.gz", tarball([(f"f{i}", b"x", None) for i in range(10)]))
    with pytest.raises(ArchiveError):
        fetch(url, tmp_path, settings)


def test_download_size_limit(served: tuple[str, Path], tmp_path: Path, settings: Settings) -> None:
    settings = settings.model_copy(update={"context_max_bytes": 1000})
    url = publish(served, "big.tar", tarball([("big", b"x" * 5000, None)], compress=False))
    with pytest.raises(BuildError, match="larger than the limit of 1000 bytes"):
        fetch(url, tmp_path, settings)
    assert not (tmp_path / "work" / "context.tar.download").exists()


def test_http_error_is_named_without_the_urls_credentials(
    served: tuple[str, Path], tmp_path: Path, settings: Settings
) -> None:
    base, _ = served
    url = base.replace("://", "://user:tarball-password@") + "/missing.tar.gz"
    with pytest.raises(BuildError, match="HTTP 404") as caught:
        fetch(url, tmp_path, settings)
    assert "tarball-password" not in str(caught.value)


@pytest.mark.parametrize("url", ["ftp://example.com/x.tar.gz", "file:///etc/passwd", "not a url"])
def test_only_http_urls_are_accepted(url: str, tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(InvalidArgumentError):
        fetch(url, tmp_path, settings)


@pytest.mark.buildah
def test_tarball_context_builds_end_to_end(served: tuple[str, Path], tmp_path: Path, settings: Settings) -> None:
    url = publish(served, "buildable.tar.gz", tarball(GOOD))
    root, _ = fetch(url, tmp_path, settings)
    context, dockerfile = resolve_context(root, None, None)
    workdir = tmp_path / "build-work"
    workdir.mkdir()
    run(build(BuildSpec(context, dockerfile), tmp_path / "layout", workdir, settings, lambda _line: None))
    image = read_layout(tmp_path / "layout")
    assert image.file("app/main.txt") == b"main\n"
    member = image.member("app/link")
    assert member is not None
    assert member.issym()
    assert member.linkname == "main.txt"
