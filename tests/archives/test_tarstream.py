"""The streaming tar reader: formats it understands, entries it refuses, damage it notices."""

from __future__ import annotations

import gzip
import tarfile

import pytest

from imgsrc.archives.compression import open_archive_stream
from imgsrc.archives.tarstream import MAX_META_BYTES, MemberKind, TarReader
from imgsrc.errors import ArchiveError
from tests.support.archives import (
    BLK,
    CHR,
    DIR,
    FIFO,
    Entry,
    directory,
    file,
    hardlink,
    header,
    one_way,
    symlink,
    tar_bytes,
)


def read_all(data: bytes) -> list[tuple[str, MemberKind, bytes, str, int]]:
    reader = TarReader(open_archive_stream(one_way(data)))
    out = []
    for member in reader.members():
        content = b""
        while chunk := reader.read(1000):
            content += chunk
        out.append((member.name, member.kind, content, member.linkname, member.mode))
    reader.finish()
    return out


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_reads_members_of_every_common_format(fmt: int) -> None:
    entries = [
        directory("d"),
        file("d/a.txt", b"alpha" * 300, 0o755),
        symlink("d/l", "a.txt"),
        hardlink("h", "d/a.txt"),
    ]
    members = read_all(tar_bytes(entries, fmt=fmt))
    assert members == [
        ("d/", MemberKind.DIRECTORY, b"", "", 0o755),
        ("d/a.txt", MemberKind.FILE, b"alpha" * 300, "", 0o755),
        ("d/l", MemberKind.SYMLINK, b"", "a.txt", 0o777),
        ("h", MemberKind.HARDLINK, b"", "d/a.txt", 0o644),
    ]


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_long_names_and_link_targets_survive(fmt: int) -> None:
    """GNU L/K headers, pax path/linkpath and the ustar prefix field all give back the full name."""
    name = "/".join(["segment"] * 20) + "/file.txt"  # 179 characters: beyond the 100-byte name field
    target = "/".join(["t"] * 60)
    entries = [file(name, b"x")] + ([] if fmt == tarfile.USTAR_FORMAT else [symlink("link", target)])
    members = read_all(tar_bytes(entries, fmt=fmt))
    assert members[0][0] == name
    if fmt != tarfile.USTAR_FORMAT:
        assert members[1][3] == target


def test_pax_size_overrides_the_header_and_non_ascii_names_decode() -> None:
    data = tar_bytes([Entry("naïve-ünïcode.txt", b"12345", pax={"size": "5"})])
    assert read_all(data) == [("naïve-ünïcode.txt", MemberKind.FILE, b"12345", "", 0o644)]


def test_gnu_base256_sizes_are_understood() -> None:
    block = bytearray(header(file("f", b"abc"), tarfile.GNU_FORMAT))
    block[124:136] = b"\x80" + (3).to_bytes(11, "big")
    block[148:156] = b"        "
    block[148:156] = f"{sum(block):06o}\x00 ".encode()
    assert read_all(bytes(block) + b"abc" + bytes(509) + bytes(1024))[0][2] == b"abc"


@pytest.mark.parametrize(
    ("kind", "words"),
    [(CHR, "character device"), (BLK, "block device"), (FIFO, "fifo"), (b"S", "sparse"), (b"Z", "unsupported")],
)
def test_special_entries_are_refused_naming_the_entry(kind: bytes, words: str) -> None:
    with pytest.raises(ArchiveError, match=rf"dev/thing.*{words}"):
        read_all(tar_bytes([Entry("dev/thing", type=kind)]))


def test_pax_sparse_files_are_refused() -> None:
    with pytest.raises(ArchiveError, match="sparse"):
        read_all(tar_bytes([Entry("s", b"x", pax={"GNU.sparse.major": "1"})]))


def test_a_directory_header_declaring_data_is_refused() -> None:
    """Readers disagree on whether such data exists; refusing keeps us reading the archive others read."""
    with pytest.raises(ArchiveError, match="declares 600 bytes"):
        read_all(tar_bytes([Entry("d", b"y" * 600, type=DIR, size=600)]))


def test_bad_checksum_is_refused() -> None:
    data = bytearray(tar_bytes([file("f", b"abc")]))
    data[0] ^= 0x01
    with pytest.raises(ArchiveError, match="checksum"):
        read_all(bytes(data))


def test_random_bytes_are_not_a_tar() -> None:
    with pytest.raises(ArchiveError, match="not a tar archive"):
        read_all(b"PK\x03\x04" + bytes(range(256)) * 4)


@pytest.mark.parametrize("cut", [100, 512 + 100, 1024 + 3])
def test_truncated_archives_are_refused(cut: int) -> None:
    data = tar_bytes([file("f", b"z" * 1500)])
    with pytest.raises(ArchiveError, match="truncated"):
        read_all(data[:cut])


def test_missing_end_of_archive_marker_is_a_truncation() -> None:
    with pytest.raises(ArchiveError, match="truncated"):
        read_all(tar_bytes([file("f", b"z")], end_marker=False))


def test_a_single_zero_block_ends_the_archive() -> None:
    data = tar_bytes([file("f", b"z")], end_marker=False) + bytes(512)
    assert [m[0] for m in read_all(data)] == ["f"]


def test_huge_metadata_headers_are_refused_before_being_read() -> None:
    """A pax header declaring gigabytes must not be buffered (tarfile would read it all into memory)."""
    block = header(Entry("f", b"", type=b"x", size=MAX_META_BYTES + 1))
    with pytest.raises(ArchiveError, match="metadata header"):
        read_all(block)


def test_endless_chains_of_metadata_headers_are_refused() -> None:
    pax = header(Entry("p", type=b"x", size=0))
    with pytest.raises(ArchiveError, match="metadata headers in a row"):
        read_all(pax * 20 + bytes(1024))


def test_trailing_garbage_after_the_end_is_bounded() -> None:
    data = tar_bytes([file("f", b"z")]) + b"\x01" * (2 << 20)
    with pytest.raises(ArchiveError, match="after the end"):
        read_all(data)


def test_gzip_is_recognised_by_magic_not_by_name() -> None:
    data = tar_bytes([file("f", b"payload")], compress=True)
    assert data[:2] == b"\x1f\x8b"
    assert read_all(data)[0][2] == b"payload"


def test_multi_member_gzip_is_read_whole() -> None:
    raw = tar_bytes([file("f", b"payload" * 100)])
    data = gzip.compress(raw[:700]) + gzip.compress(raw[700:])
    assert read_all(data)[0][2] == b"payload" * 100


def test_truncated_gzip_is_refused() -> None:
    data = tar_bytes([file("f", bytes(range(256)) * 64)], compress=True)
    with pytest.raises(ArchiveError, match="truncated"):
        read_all(data[: len(data) - 10])


def test_corrupt_gzip_is_refused() -> None:
    data = bytearray(tar_bytes([file("f", bytes(range(256)) * 64)], compress=True))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(ArchiveError):
        read_all(bytes(data))


@pytest.mark.parametrize(
    ("magic", "name"), [(b"\x28\xb5\x2f\xfd", "zstd"), (b"BZh91AY", "bzip2"), (b"\xfd7zXZ\x00", "xz")]
)
def test_other_compressions_are_refused_by_name(magic: bytes, name: str) -> None:
    with pytest.raises(ArchiveError, match=f"{name}-compressed"):
        read_all(magic + bytes(600))
