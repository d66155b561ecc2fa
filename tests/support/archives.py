"""Builders of test archives: images, ``docker save`` tars (docker's legacy layout and the docker 25+ one),
OCI image layouts (as tars or directories), gzip variants, and hostile tars.

Everything is built in memory from :class:`Entry` lists, with headers from :mod:`tarfile` but the archive put
together here, so that a test can lie: declare a size the data does not have, leave out the end-of-archive
marker, cut the stream short, or use names and link targets no honest writer would.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

REG = tarfile.REGTYPE
DIR = tarfile.DIRTYPE
SYM = tarfile.SYMTYPE
LNK = tarfile.LNKTYPE
CHR = tarfile.CHRTYPE
BLK = tarfile.BLKTYPE
FIFO = tarfile.FIFOTYPE


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def hexof(digest: str) -> str:
    return digest.removeprefix("sha256:")


@dataclass(frozen=True)
class Entry:
    """One tar member. ``size`` overrides the declared size (a lying header); ``data`` is what follows."""

    name: str
    data: bytes = b""
    type: bytes = REG
    linkname: str = ""
    mode: int = 0o644
    size: int | None = None
    mtime: int = 1_700_000_000
    pax: dict[str, str] = field(default_factory=dict)


def file(name: str, data: bytes = b"", mode: int = 0o644) -> Entry:
    return Entry(name, data, REG, mode=mode)


def directory(name: str, mode: int = 0o755) -> Entry:
    return Entry(name, type=DIR, mode=mode)


def symlink(name: str, target: str) -> Entry:
    return Entry(name, type=SYM, linkname=target, mode=0o777)


def hardlink(name: str, target: str) -> Entry:
    return Entry(name, type=LNK, linkname=target)


def header(entry: Entry, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    info = tarfile.TarInfo(entry.name)
    info.type = entry.type
    info.linkname = entry.linkname
    info.mode = entry.mode
    info.mtime = entry.mtime
    info.size = entry.size if entry.size is not None else (len(entry.data) if entry.type == REG else 0)
    info.pax_headers = dict(entry.pax)
    return info.tobuf(fmt, "utf-8", "surrogateescape")


def tar_bytes(
    entries: Iterable[Entry],
    *,
    compress: bool = False,
    end_marker: bool = True,
    fmt: int = tarfile.PAX_FORMAT,
) -> bytes:
    """The tar of ``entries`` (data padded to 512-byte blocks), gzip-compressed when ``compress``."""
    out = bytearray()
    for entry in entries:
        out += header(entry, fmt)
        if entry.type == REG or entry.size is not None:  # other members carry data only when told to lie
            out += entry.data + bytes(-len(entry.data) % 512)
    if end_marker:
        out += bytes(1024)
    return gzip.compress(bytes(out), mtime=0) if compress else bytes(out)


def layer_tar(files: dict[str, bytes]) -> bytes:
    """A deterministic layer: a plain tar of the given files."""
    return tar_bytes([file(name, data) for name, data in sorted(files.items())])


# --- images --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    """An image's blobs. ``layers`` are the blobs as stored (plain tar, or gzip when ``gzip_layers``)."""

    config: bytes
    layers: tuple[bytes, ...]
    layer_media_type: str = OCI_LAYER
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def config_digest(self) -> str:
        return sha256(self.config)

    @property
    def layer_digests(self) -> list[str]:
        return [sha256(layer) for layer in self.layers]

    @property
    def manifest(self) -> bytes:
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": self.config_digest, "size": len(self.config)},
            "layers": [
                {"mediaType": self.layer_media_type, "digest": sha256(layer), "size": len(layer)}
                for layer in self.layers
            ],
        }
        return json.dumps(doc).encode()

    @property
    def manifest_digest(self) -> str:
        return sha256(self.manifest)


def make_config(diff_ids: Sequence[str], *, architecture: str = "amd64", os_name: str = "linux") -> bytes:
    doc = {
        "architecture": architecture,
        "os": os_name,
        "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
    }
    return json.dumps(doc).encode()


def make_image(
    *layer_files: dict[str, bytes],
    gzip_layers: bool = False,
    architecture: str = "amd64",
    diff_ids: Sequence[str] | None = None,
) -> Image:
    """An image with one layer per mapping of files; its config lists the true diff_ids unless given."""
    plain = [layer_tar(files) for files in layer_files] or [layer_tar({"hello.txt": b"hello\n"})]
    blobs = [gzip.compress(p, mtime=0) for p in plain] if gzip_layers else plain
    config = make_config(diff_ids if diff_ids is not None else [sha256(p) for p in plain], architecture=architecture)
    return Image(config, tuple(blobs), OCI_LAYER_GZIP if gzip_layers else OCI_LAYER)


# --- docker save ---------------------------------------------------------------------------------------------


def docker_save_entries(
    image: Image,
    *,
    tags: Sequence[str] = ("example/app:1",),
    link_layers: bool = False,
    manifest: object = None,
) -> list[Entry]:
    """Docker's legacy ``docker save`` layout: ``<v1 id>/layer.tar`` (+ ``json``, ``VERSION``), the config as
    ``<hex>.json``, then ``manifest.json`` and ``repositories`` — in docker's order. With ``link_layers`` each
    ``<id>/layer.tar`` is a symlink to ``<digest hex>.tar`` (as skopeo writes). ``manifest`` overrides the
    manifest.json document."""
    entries: list[Entry] = []
    layer_paths = []
    for position, layer in enumerate(image.layers):
        v1_id = hashlib.sha256(f"v1-{position}-{sha256(layer)}".encode()).hexdigest()
        entries.append(directory(v1_id))
        entries.append(file(f"{v1_id}/VERSION", b"1.0"))
        entries.append(file(f"{v1_id}/json", json.dumps({"id": v1_id}).encode()))
        if link_layers:
            entries.append(file(f"{hexof(sha256(layer))}.tar", layer))
            entries.append(symlink(f"{v1_id}/layer.tar", f"../{hexof(sha256(layer))}.tar"))
        else:
            entries.append(file(f"{v1_id}/layer.tar", layer))
        layer_paths.append(f"{v1_id}/layer.tar")
    config_name = f"{hexof(image.config_digest)}.json"
    entries.append(file(config_name, image.config))
    doc = manifest if manifest is not None else [{"Config": config_name, "RepoTags": list(tags), "Layers": layer_paths}]
    entries.append(file("manifest.json", json.dumps(doc).encode()))
    entries.append(file("repositories", b"{}"))
    return entries


# --- OCI image layout ----------------------------------------------------------------------------------------


def blob_entry(data: bytes) -> Entry:
    return file(f"blobs/sha256/{hexof(sha256(data))}", data)


def index_doc(descriptors: Sequence[dict[str, object]], media_type: str | None = OCI_INDEX) -> bytes:
    doc: dict[str, object] = {"schemaVersion": 2, "manifests": list(descriptors)}
    if media_type:
        doc["mediaType"] = media_type
    return json.dumps(doc).encode()


def descriptor(data: bytes, media_type: str, **extra: object) -> dict[str, object]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


def image_blob_entries(image: Image) -> list[Entry]:
    return [blob_entry(image.config), *(blob_entry(layer) for layer in image.layers), blob_entry(image.manifest)]


def oci_layout_entries(
    image: Image,
    *,
    ref_name: str | None = "latest",
    docker_manifest: bool = False,
) -> list[Entry]:
    """An OCI image layout holding ``image`` (index.json → manifest). ``docker_manifest`` adds docker 25+'s
    ``manifest.json`` next to it, pointing at the same blobs."""
    annotations = {"org.opencontainers.image.ref.name": ref_name} if ref_name else {}
    top = descriptor(image.manifest, OCI_MANIFEST, **({"annotations": annotations} if annotations else {}))
    entries = [
        file("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
        *image_blob_entries(image),
        file("index.json", index_doc([top])),
    ]
    if docker_manifest:
        doc = [
            {
                "Config": f"blobs/sha256/{hexof(image.config_digest)}",
                "RepoTags": ["example/app:25"],
                "Layers": [f"blobs/sha256/{hexof(d)}" for d in image.layer_digests],
            }
        ]
        entries.append(file("manifest.json", json.dumps(doc).encode()))
    return entries


def multi_platform_entries(
    images: Sequence[tuple[Image, dict[str, str]]],
    *,
    leave_out: Sequence[int] = (),
    extra: Sequence[dict[str, object]] = (),
) -> list[Entry]:
    """An OCI layout whose index.json points at a nested index with one manifest per (image, platform).
    Images at positions in ``leave_out`` are listed but their blobs are absent (a partial export)."""
    nested = index_doc(
        [descriptor(image.manifest, OCI_MANIFEST, platform=platform) for image, platform in images] + list(extra)
    )
    entries = [file("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), blob_entry(nested)]
    for position, (image, _platform) in enumerate(images):
        if position not in leave_out:
            entries.extend(image_blob_entries(image))
    entries.append(file("index.json", index_doc([descriptor(nested, OCI_INDEX)])))
    return entries


def write_entries(root: Path, entries: Iterable[Entry]) -> Path:
    """Write the regular files of ``entries`` under ``root`` (to make a layout directory)."""
    for entry in entries:
        if entry.type == REG:
            path = root / entry.name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(entry.data)
    return root


def replace_data(entries: Sequence[Entry], name: str, data: bytes) -> list[Entry]:
    """``entries`` with the content of ``name`` swapped (the name kept: a lying archive)."""
    assert any(e.name == name for e in entries), name
    return [replace(e, data=data) if e.name == name else e for e in entries]


def without(entries: Sequence[Entry], name: str) -> list[Entry]:
    assert any(e.name == name for e in entries), name
    return [e for e in entries if e.name != name]


def stream(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)


class OneWayStream:
    """A stream that can only be read forward — no ``seek``, ``tell`` or ``peek`` — and answers in short reads
    of varying size, like a request body still arriving. Counts how often it was read past its end."""

    def __init__(self, chunks: Iterable[bytes], max_read: int = 70_001) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""
        self._max_read = max_read
        self._turn = 0
        self.bytes_read = 0

    def read(self, size: int = -1, /) -> bytes:
        self._turn += 1
        limit = self._max_read - (self._turn * 7919) % (self._max_read // 2)  # vary short reads
        want = limit if size < 0 else min(size, limit)
        while len(self._buffer) < want:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        out, self._buffer = self._buffer[:want], self._buffer[want:]
        self.bytes_read += len(out)
        return out


def one_way(data: bytes, max_read: int = 70_001) -> OneWayStream:
    return OneWayStream([data], max_read)


def big_layer_chunks(size: int, block: bytes) -> tuple[str, int, Iterable[bytes]]:
    """A layer tar holding one file of ``size`` bytes (``block`` repeated), produced lazily: its digest, its
    length, and a generator of its bytes — so a test can stream a large archive without holding it."""
    assert size % len(block) == 0

    def generate() -> Iterable[bytes]:
        yield header(Entry("big.bin", size=size))
        for _ in range(size // len(block)):
            yield block
        yield bytes(-size % 512) + bytes(1024)

    digest = hashlib.sha256()
    length = 0
    for chunk in generate():
        digest.update(chunk)
        length += len(chunk)
    return "sha256:" + digest.hexdigest(), length, generate()
