"""An upload is read once, forward only, in bounded memory, whatever the size of its layers."""

from __future__ import annotations

import json
import os
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from imgsrc.archives import UploadLimits, read_image_archive
from imgsrc.errors import ArchiveError
from tests.support.archives import (
    Entry,
    OneWayStream,
    big_layer_chunks,
    docker_save_entries,
    file,
    hexof,
    make_config,
    make_image,
    one_way,
    sha256,
    tar_bytes,
)

LAYER_BYTES = 64 << 20


def lazy_docker_save(size: int) -> tuple[Iterator[bytes], str]:
    """A docker save archive with one layer of ``size`` bytes, generated chunk by chunk (never held whole)."""
    digest, length, layer_chunks = big_layer_chunks(size, os.urandom(1 << 20))
    config = make_config([digest])
    config_name = f"{hexof(sha256(config))}.json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": ["big:1"], "Layers": ["abc/layer.tar"]}]).encode()

    def generate() -> Iterator[bytes]:
        yield tar_bytes([Entry("abc/layer.tar", size=length)], end_marker=False)
        yield from layer_chunks
        yield bytes(-length % 512)
        yield tar_bytes([file(config_name, config), file("manifest.json", manifest)])

    return generate(), digest


def test_memory_stays_flat_while_a_large_layer_streams_through(tmp_path: Path) -> None:
    chunks, digest = lazy_docker_save(LAYER_BYTES)
    stream = OneWayStream(chunks, max_read=1 << 20)
    tracemalloc.start()
    try:
        local = read_image_archive(stream, tmp_path / "staging", UploadLimits(1 << 30, 100))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert local.layers[0].descriptor.digest == digest
    assert local.layers[0].descriptor.size > LAYER_BYTES
    assert peak < 12 << 20, f"peak Python allocation {peak} bytes while streaming {LAYER_BYTES} bytes"


def test_the_stream_is_read_once_to_its_end_without_seeking(tmp_path: Path) -> None:
    """OneWayStream has no seek/tell/peek: reading succeeds, so none was needed; and every byte was read."""
    data = tar_bytes(docker_save_entries(make_image({"a": b"x" * 100_000})), compress=True)
    stream = one_way(data)
    assert not hasattr(stream, "seek")
    read_image_archive(stream, tmp_path / "staging", UploadLimits(1 << 24, 100))
    assert stream.bytes_read == len(data)
    assert stream.read(10) == b""


def test_the_size_limit_counts_bytes_actually_received(tmp_path: Path) -> None:
    entries = [file(f"f{i}", b"z" * 4000) for i in range(5)]
    with pytest.raises(ArchiveError, match=r"'f2'.*more than 10000 bytes"):
        read_image_archive(one_way(tar_bytes(entries)), tmp_path / "staging", UploadLimits(10_000, 100))
    assert not (tmp_path / "staging").exists()


def test_a_huge_declared_size_is_refused_on_the_declaration(tmp_path: Path) -> None:
    stream = one_way(tar_bytes([Entry("layer.tar", size=1 << 40)], end_marker=False))
    with pytest.raises(ArchiveError, match=r"'layer\.tar'.*more than"):
        read_image_archive(stream, tmp_path / "staging", UploadLimits(1 << 30, 100))


def test_the_entry_limit_stops_an_archive_of_many_tiny_entries(tmp_path: Path) -> None:
    entries = [file(f"d/{i}") for i in range(300)]
    with pytest.raises(ArchiveError, match="more than 200 entries"):
        read_image_archive(one_way(tar_bytes(entries)), tmp_path / "staging", UploadLimits(1 << 20, 200))


def test_a_gzip_bomb_upload_stops_at_the_size_limit(tmp_path: Path) -> None:
    data = tar_bytes([file("zeros", bytes(64 << 20))], compress=True)
    with pytest.raises(ArchiveError, match="more than"):
        read_image_archive(one_way(data), tmp_path / "staging", UploadLimits(1 << 20, 100))
    assert not (tmp_path / "staging").exists()
