"""Safe extraction of build contexts: what is unpacked, what is refused, and that a refusal leaves nothing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from imgsrc.archives import ExtractLimits, ExtractStats, extract_tar
from imgsrc.errors import ArchiveError
from tests.support.archives import (
    BLK,
    CHR,
    FIFO,
    Entry,
    directory,
    file,
    hardlink,
    symlink,
    tar_bytes,
)

LIMITS = ExtractLimits(max_bytes=1 << 20, max_entries=100)


def write_archive(tmp_path: Path, entries: list[Entry], *, compress: bool = False, name: str = "ctx.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(tar_bytes(entries, compress=compress))
    return path


def refuse(tmp_path: Path, entries: list[Entry], match: str, limits: ExtractLimits = LIMITS) -> None:
    """Extraction must fail with ArchiveError matching ``match`` and leave nothing behind."""
    archive = write_archive(tmp_path, entries)
    dest = tmp_path / "out" / "context"
    with pytest.raises(ArchiveError, match=match):
        extract_tar(archive, dest, limits)
    assert not dest.exists()
    assert list((tmp_path / "out").iterdir()) == []  # no half-extracted temporary directory either


def test_extracts_files_directories_links_and_modes(tmp_path: Path) -> None:
    entries = [
        directory("app"),
        file("app/run.sh", b"#!/bin/sh\necho hi\n", mode=0o755),
        file("app/data.txt", b"data", mode=0o640),
        file("Dockerfile", b"FROM scratch\n"),
        symlink("app/current", "run.sh"),
        symlink("app/up", "../Dockerfile"),
        hardlink("copy.txt", "app/data.txt"),
        file("deep/er/still/file", b"implicit parents"),
    ]
    dest = tmp_path / "ctx"
    stats = extract_tar(write_archive(tmp_path, entries), dest, LIMITS)
    assert stats == ExtractStats(entries=8, bytes=len(b"#!/bin/sh\necho hi\n") + 4 + 13 + 16)
    assert (dest / "app" / "run.sh").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert stat.S_IMODE((dest / "app" / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "app" / "data.txt").stat().st_mode) == 0o640
    assert os.readlink(dest / "app" / "current") == "run.sh"
    assert (dest / "app" / "up").read_bytes() == b"FROM scratch\n"
    assert os.path.samefile(dest / "copy.txt", dest / "app" / "data.txt")
    assert (dest / "deep" / "er" / "still" / "file").read_bytes() == b"implicit parents"
    assert (dest / "app" / "run.sh").stat().st_mtime == 1_700_000_000


def test_gzip_archives_are_detected_by_magic_whatever_their_name(tmp_path: Path) -> None:
    archive = write_archive(tmp_path, [file("a", b"A")], compress=True, name="context.tar")
    extract_tar(archive, tmp_path / "ctx", LIMITS)
    assert (tmp_path / "ctx" / "a").read_bytes() == b"A"


def test_setuid_setgid_and_sticky_bits_are_dropped(tmp_path: Path) -> None:
    entries = [file("suid", b"x", mode=0o4755), file("sgid", b"x", mode=0o2755), directory("tmp", mode=0o1777)]
    dest = tmp_path / "ctx"
    extract_tar(write_archive(tmp_path, entries), dest, LIMITS)
    assert stat.S_IMODE((dest / "suid").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "sgid").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "tmp").stat().st_mode) == 0o777


def test_read_only_directories_still_receive_their_children(tmp_path: Path) -> None:
    entries = [directory("ro", mode=0o555), file("ro/inside", b"ok")]
    dest = tmp_path / "ctx"
    extract_tar(write_archive(tmp_path, entries), dest, LIMITS)
    assert (dest / "ro" / "inside").read_bytes() == b"ok"
    assert stat.S_IMODE((dest / "ro").stat().st_mode) == 0o555


def test_a_later_entry_replaces_an_earlier_file_of_the_same_name(tmp_path: Path) -> None:
    entries = [file("a", b"first"), hardlink("b", "a"), file("a", b"second")]
    dest = tmp_path / "ctx"
    extract_tar(write_archive(tmp_path, entries), dest, LIMITS)
    assert (dest / "a").read_bytes() == b"second"
    assert (dest / "b").read_bytes() == b"first"


def test_an_existing_empty_destination_is_replaced(tmp_path: Path) -> None:
    dest = tmp_path / "ctx"
    dest.mkdir()
    extract_tar(write_archive(tmp_path, [file("a", b"A")]), dest, LIMITS)
    assert (dest / "a").read_bytes() == b"A"


def test_a_non_empty_destination_is_a_caller_error(tmp_path: Path) -> None:
    dest = tmp_path / "ctx"
    dest.mkdir()
    (dest / "keep").write_bytes(b"k")
    with pytest.raises(FileExistsError):
        extract_tar(write_archive(tmp_path, [file("a", b"A")]), dest, LIMITS)
    assert (dest / "keep").read_bytes() == b"k"


def test_a_refusal_leaves_an_empty_destination_as_it_was(tmp_path: Path) -> None:
    dest = tmp_path / "ctx"
    dest.mkdir()
    with pytest.raises(ArchiveError):
        extract_tar(write_archive(tmp_path, [file("ok", b"1"), file("../evil", b"2")]), dest, LIMITS)
    assert dest.is_dir()
    assert list(dest.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ctx", "ctx.bin"]


# --- hostile archives ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "a/b/../../../evil", ".."])
def test_parent_components_are_refused(tmp_path: Path, name: str) -> None:
    refuse(tmp_path, [file("ok", b"1"), file(name, b"evil")], match=r"'\.\.' component")
    assert not (tmp_path / "evil").exists()


@pytest.mark.parametrize("name", ["/etc/evil", "//evil", "/"])
def test_absolute_names_are_refused(tmp_path: Path, name: str) -> None:
    refuse(tmp_path, [file(name, b"evil")], match="absolute path")


@pytest.mark.parametrize("target", ["..", "../outside", "a/../../outside", "/etc/passwd", "/", "./../x", "sub/../../x"])
def test_symlinks_escaping_the_root_are_refused(tmp_path: Path, target: str) -> None:
    refuse(tmp_path, [directory("sub"), symlink("link", target)], match="link")


def test_symlink_chains_that_escape_together_are_refused(tmp_path: Path) -> None:
    """Each link alone stays inside; followed through each other they leave the root."""
    entries = [directory("d"), symlink("d/up", ".."), symlink("e", "d/up/..")]
    refuse(tmp_path, entries, match="'e'.*outside")


def test_a_link_made_escaping_by_a_later_entry_is_refused(tmp_path: Path) -> None:
    """``e -> d/q/..`` is harmless until ``d/q`` becomes a link to ``../..``; the final tree is what counts."""
    entries = [directory("d"), symlink("e", "d/q/.."), symlink("d/q", "..")]
    refuse(tmp_path, entries, match="outside")


def test_writing_through_a_symlink_is_refused(tmp_path: Path) -> None:
    """The classic: a link to a directory outside, then a file written "into" it. Even a link that stays
    inside is not written through."""
    outside = tmp_path / "outside"
    outside.mkdir()
    refuse(tmp_path, [directory("d"), symlink("inside", "d"), file("inside/f", b"x")], match="through symlink")
    refuse(tmp_path, [symlink("loop", "loop"), file("loop/f", b"x")], match="through symlink")


def test_writing_through_a_symlink_to_outside_is_refused_at_the_link(tmp_path: Path) -> None:
    refuse(tmp_path, [symlink("out", "../outside"), file("out/f", b"x")], match="'out'.*outside")
    assert not (tmp_path / "outside").exists()


@pytest.mark.parametrize("target", ["../outside", "/etc/passwd", "missing", "dir", "link"])
def test_hard_links_to_anything_but_an_extracted_file_are_refused(tmp_path: Path, target: str) -> None:
    entries = [directory("dir"), file("f", b"x"), symlink("link", "f"), hardlink("h", target)]
    refuse(tmp_path, entries, match="hard link")


def test_a_file_cannot_replace_a_directory(tmp_path: Path) -> None:
    refuse(tmp_path, [directory("d"), file("d/x", b"1"), file("d", b"2")], match="conflicts")


def test_a_directory_cannot_replace_a_symlink(tmp_path: Path) -> None:
    refuse(tmp_path, [symlink("d", "."), directory("d")], match="conflicts")


@pytest.mark.parametrize(("kind", "words"), [(CHR, "character device"), (BLK, "block device"), (FIFO, "fifo")])
def test_device_and_fifo_entries_are_refused(tmp_path: Path, kind: bytes, words: str) -> None:
    refuse(tmp_path, [file("ok", b"1"), Entry("dev/null", type=kind)], match=f"'dev/null'.*{words}")


def test_more_entries_than_the_limit_are_refused(tmp_path: Path) -> None:
    entries = [file(f"f{i}", b"") for i in range(101)]
    refuse(tmp_path, entries, match="more than 100 entries")


def test_a_huge_declared_size_is_refused_before_any_data_is_read(tmp_path: Path) -> None:
    """The header claims 1 TiB (and the data is not even there): refused on the declaration alone."""
    refuse(tmp_path, [Entry("huge", b"", size=1 << 40)], match="'huge'.*more than")


def test_real_bytes_over_the_limit_are_refused(tmp_path: Path) -> None:
    limits = ExtractLimits(max_bytes=10_000, max_entries=100)
    refuse(tmp_path, [file("a", b"x" * 6000), file("b", b"y" * 6000)], match="'b'.*more than 10000", limits=limits)


def test_a_gzip_bomb_stops_at_the_size_limit(tmp_path: Path) -> None:
    """64 MiB of zeros compress to ~64 KiB; the limit stops it, not the disk."""
    archive = tmp_path / "bomb.tgz"
    archive.write_bytes(tar_bytes([file("zeros", bytes(64 << 20))], compress=True))
    assert archive.stat().st_size < 200_000
    with pytest.raises(ArchiveError, match="more than"):
        extract_tar(archive, tmp_path / "ctx", LIMITS)
    assert not (tmp_path / "ctx").exists()


def test_a_truncated_archive_leaves_nothing(tmp_path: Path) -> None:
    archive = tmp_path / "cut.tar"
    archive.write_bytes(tar_bytes([file("a", b"1" * 100), file("b", b"2" * 5000)])[:1800])
    with pytest.raises(ArchiveError, match="truncated"):
        extract_tar(archive, tmp_path / "ctx", LIMITS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.tar"]
