"""Properties over open-ended archives (Hypothesis): whatever the structure — names with ``..`` and ``/``,
links to anywhere, links through links, damaged bytes — extraction never writes outside its destination,
uploads never leave staging dirty, and nothing but ArchiveError/IntegrityError is ever raised."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from imgsrc.archives import ExtractLimits, UploadLimits, extract_tar, read_image_archive
from imgsrc.errors import ArchiveError, IntegrityError
from tests.support.archives import (
    CHR,
    DIR,
    FIFO,
    LNK,
    REG,
    SYM,
    Entry,
    docker_save_entries,
    make_image,
    multi_platform_entries,
    one_way,
    tar_bytes,
)

COMPONENTS = ["a", "b", "..", ".", "", "outside", "d e", "x" * 120, "ü"]
component = st.sampled_from(COMPONENTS)
path = st.builds(
    lambda lead, parts: lead + "/".join(parts),
    st.sampled_from(["", "", "", "/", "./", "../"]),
    st.lists(component, min_size=1, max_size=4),
)
# Mostly plausible names, so that most archives extract and the success side is checked too.
safe_path = st.lists(st.sampled_from(["a", "b", "c", "d e", "ü"]), min_size=1, max_size=3).map("/".join)
entry = st.builds(
    Entry,
    name=st.one_of(safe_path, safe_path, safe_path, path),
    data=st.sampled_from([b"", b"data", b"x" * 700]),
    # Devices are refused outright, so they are rare here: an archive holding one tells nothing more.
    type=st.sampled_from([REG] * 6 + [DIR] * 4 + [SYM] * 6 + [LNK] * 2 + [CHR, FIFO]),
    linkname=path,
    mode=st.sampled_from([0o644, 0o755, 0o4755, 0o000, 0o555]),
)
archives = st.lists(entry, max_size=8)
EXPECTED = (ArchiveError, IntegrityError)


def snapshot(root: Path) -> dict[str, bytes | str | None]:
    """Everything under ``root`` without following links: file contents, link targets, directories."""
    out: dict[str, bytes | str | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if os.path.islink(full):
                out[rel] = os.readlink(full)
            elif os.path.isdir(full):
                out[rel] = None
            else:
                with open(full, "rb") as handle:
                    out[rel] = handle.read()
    return out


def inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + os.sep)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=archives, compress=st.booleans())
def test_extraction_never_writes_outside_and_raises_only_archive_errors(
    tmp_path: Path, entries: list[Entry], compress: bool
) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as scratch:
        base = Path(scratch)
        (base / "outside").mkdir()
        (base / "outside" / "sentinel").write_bytes(b"untouched")
        (base / "work").mkdir()
        archive = base / "archive"
        archive.write_bytes(tar_bytes(entries, compress=compress))
        before = snapshot(base / "outside")
        dest = base / "work" / "ctx"
        try:
            extract_tar(archive, dest, ExtractLimits(max_bytes=1 << 20, max_entries=50))
            event("extracted" + (" with links" if any(e.type == SYM for e in entries) else ""))
        except EXPECTED as exc:
            event(f"refused: {type(exc).__name__}")
            assert not dest.exists()
        assert snapshot(base / "outside") == before
        assert sorted(p.name for p in base.iterdir()) == ["archive", "outside", "work"]
        assert [p.name for p in (base / "work").iterdir()] in ([], ["ctx"])
        if dest.exists():
            root = os.path.realpath(dest)
            for dirpath, dirnames, filenames in os.walk(dest):
                for name in dirnames + filenames:
                    assert inside(os.path.realpath(os.path.join(dirpath, name)), root)


UPLOAD_NAMES = st.sampled_from(
    ["manifest.json", "index.json", "oci-layout", "blobs/sha256/" + "a" * 64, "l/layer.tar", "../x", "/abs"]
)
upload_entry = st.builds(
    Entry,
    name=st.one_of(UPLOAD_NAMES, path),
    data=st.sampled_from(
        [b"", b"{}", b"[]", b'[{"Config": "c", "Layers": ["l/layer.tar"]}]', b'{"imageLayoutVersion":"1.0.0"}']
    ),
    type=st.sampled_from([REG, REG, REG, DIR, SYM, LNK]),
    linkname=st.one_of(UPLOAD_NAMES, path),
)


def check_upload(tmp_path: Path, data: bytes) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as scratch:
        staging = Path(scratch) / "staging"
        try:
            local = read_image_archive(one_way(data), staging, UploadLimits(1 << 22, 200))
        except EXPECTED as exc:
            event(f"refused: {type(exc).__name__}")
            assert not staging.exists()
            return
        event("read")
        kept = {str(p) for p in staging.rglob("*") if p.is_file()}
        assert kept == {str(layer.path) for layer in local.layers}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.lists(upload_entry, max_size=10))
def test_random_upload_structures_raise_only_archive_errors(tmp_path: Path, entries: list[Entry]) -> None:
    check_upload(tmp_path, tar_bytes(entries))


VALID = [
    tar_bytes(docker_save_entries(make_image({"a": b"1" * 900}, {"b": b"2"}))),
    tar_bytes(docker_save_entries(make_image({"a": b"1" * 900}), link_layers=True), compress=True),
    tar_bytes(
        multi_platform_entries(
            [
                (make_image({"a": b"amd"}), {"os": "linux", "architecture": "amd64"}),
                (make_image({"a": b"arm"}, architecture="arm64"), {"os": "linux", "architecture": "arm64"}),
            ]
        )
    ),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    which=st.sampled_from(range(len(VALID))),
    edits=st.lists(
        st.tuples(st.floats(0, 1), st.integers(0, 255), st.sampled_from(["flip", "cut", "insert"])), max_size=3
    ),
)
def test_damaged_valid_archives_raise_only_archive_errors(
    tmp_path: Path, which: int, edits: list[tuple[float, int, str]]
) -> None:
    data = bytearray(VALID[which])
    for where, value, how in edits:
        position = int(where * (len(data) - 1))
        if how == "flip":
            data[position] ^= value or 1
        elif how == "cut":
            del data[position:]
        else:
            data[position:position] = bytes([value]) * 512
        if not data:
            break
    check_upload(tmp_path, bytes(data))
