"""Generate test images and push them to a registry with skopeo.

Everything is built in Python as an OCI image layout directory (``oci-layout``, ``index.json``,
``blobs/sha256/…``) and then copied with ``skopeo copy --preserve-digests``, so every digest a test sees is
one this module computed: the manifest and config digests, the layer digests (compressed) and diff_ids
(uncompressed). Docker schema 2 images are built with Docker media types from the start (skopeo copies them
unchanged), OCI images with OCI media types.

Typical use::

    img = push_image(registry, tmp_path, "team/app", layer_sizes=(2048, 4096))
    img.manifest_digest, img.config_digest, [layer.digest for layer in img.layers]

    shared = make_layer(tmp_path / "layers", 1024)
    a = push_image(registry, tmp_path, "a", layers=[shared, make_layer(tmp_path / "layers", 10)])
    b = push_image(registry, tmp_path, "b", layers=[shared])

    multi = push_index(registry, tmp_path, "multi", platforms=("linux/amd64", "linux/arm64", "linux/arm/v7"))
    multi.index_digest, multi.children["linux/arm64"].manifest_digest

Layers hold random bytes (incompressible), gzip level 1 by default, so ``size`` ≈ the blob size; pass
``compresslevel=0`` for fast big benchmark layers.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tests.support.registry import RunningRegistry, write_authfile

__all__ = [
    "DOCKER_CONFIG",
    "DOCKER_LAYER",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "OCI_CONFIG",
    "OCI_INDEX",
    "OCI_LAYER",
    "OCI_MANIFEST",
    "GeneratedImage",
    "Layer",
    "MediaFlavour",
    "OciLayout",
    "make_layer",
    "push_image",
    "push_index",
    "skopeo_copy",
    "write_image",
    "write_index",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MediaFlavour = Literal["oci", "docker"]
_TYPES: dict[str, dict[str, str]] = {
    "oci": {"manifest": OCI_MANIFEST, "index": OCI_INDEX, "config": OCI_CONFIG, "layer": OCI_LAYER},
    "docker": {
        "manifest": DOCKER_MANIFEST,
        "index": DOCKER_MANIFEST_LIST,
        "config": DOCKER_CONFIG,
        "layer": DOCKER_LAYER,
    },
}


@dataclass(frozen=True)
class Layer:
    """A gzip-compressed tar layer: ``digest``/``size`` of the compressed blob, ``diff_id`` of the tar."""

    digest: str
    size: int
    diff_id: str
    path: Path

    def data(self) -> bytes:
        return self.path.read_bytes()


@dataclass(frozen=True)
class GeneratedImage:
    """What was pushed, for end-to-end digest assertions.

    For an index, ``media_type``/``index_digest``/``index_bytes`` describe the index and ``children`` holds
    each platform's image (keyed ``os/arch[/variant]``); ``manifest_digest`` etc. are those of the first
    platform.
    """

    repository: str
    tag: str
    media_type: str
    manifest_digest: str
    manifest_bytes: bytes = field(repr=False)
    manifest_media_type: str
    config_digest: str
    config_size: int
    config_bytes: bytes = field(repr=False)
    layers: tuple[Layer, ...]
    platform: str
    index_digest: str | None = None
    index_bytes: bytes | None = field(default=None, repr=False)
    children: dict[str, GeneratedImage] = field(default_factory=dict, repr=False)
    extras: dict[str, str] = field(default_factory=dict, repr=False)  # digest → media type, non-image entries' blobs

    @property
    def every_digest(self) -> set[str]:
        """Of an index: itself, every platform's manifest, config and layers, and its extra entries' blobs."""
        out = {self.index_digest or self.manifest_digest, *self.extras}
        for child in self.children.values() or [self]:
            out |= {child.manifest_digest, child.config_digest, *child.layer_digests}
        return out

    @property
    def extra_manifests(self) -> list[str]:
        """The manifests of the index's non-image entries (attestations)."""
        return [d for d, media_type in self.extras.items() if media_type in (OCI_MANIFEST, DOCKER_MANIFEST)]

    @property
    def layer_digests(self) -> list[str]:
        return [layer.digest for layer in self.layers]

    @property
    def layer_sizes(self) -> list[int]:
        return [layer.size for layer in self.layers]

    @property
    def digest(self) -> str:
        """The digest the tag points to: the index's for a multi-arch image, else the manifest's."""
        return self.index_digest or self.manifest_digest


@dataclass(frozen=True)
class OciLayout:
    """An OCI image layout directory and the descriptor of its one tagged entry."""

    path: Path
    tag: str
    digest: str
    media_type: str


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _store_blob(layout: Path, data: bytes) -> str:
    digest = _sha256(data)
    target = layout / "blobs" / "sha256" / digest.removeprefix("sha256:")
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.write_bytes(data)
    return digest


def make_layer(
    directory: Path, size: int = 2048, *, files: int = 2, compresslevel: int = 1, seed: int | None = None
) -> Layer:
    """Write a tar.gz layer of ``files`` random files totalling ``size`` bytes under ``directory``.

    ``seed`` makes the content reproducible; by default each call yields a distinct layer.
    """
    directory.mkdir(parents=True, exist_ok=True)
    rand = _random_bytes(seed)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        per_file = [size // files + (1 if i < size % files else 0) for i in range(files)]
        for index, length in enumerate(per_file):
            info = tarfile.TarInfo(f"data/file-{index}.bin")
            info.size = length
            info.mtime = 0
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(rand(length)))
    tar_bytes = raw.getvalue()
    blob = gzip.compress(tar_bytes, compresslevel=compresslevel, mtime=0)
    digest = _sha256(blob)
    path = directory / digest.removeprefix("sha256:")
    path.write_bytes(blob)
    return Layer(digest=digest, size=len(blob), diff_id=_sha256(tar_bytes), path=path)


def _random_bytes(seed: int | None) -> Callable[[int], bytes]:
    if seed is None:
        return os.urandom
    return random.Random(seed).randbytes


def _platform_fields(platform: str) -> dict[str, str]:
    parts = platform.split("/")
    fields = {"os": parts[0], "architecture": parts[1]}
    if len(parts) > 2:
        fields["variant"] = parts[2]
    return fields


def _init_layout(layout: Path) -> None:
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))


def _write_index_json(layout: Path, tag: str, media_type: str, digest: str, size: int) -> None:
    entry = {
        "mediaType": media_type,
        "digest": digest,
        "size": size,
        "annotations": {"org.opencontainers.image.ref.name": tag},
    }
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))


def _build_image(
    layout: Path,
    layers: Sequence[Layer],
    *,
    flavour: MediaFlavour,
    platform: str,
    repository: str,
    tag: str,
) -> GeneratedImage:
    types = _TYPES[flavour]
    config = {
        **_platform_fields(platform),
        "created": "2024-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "imgsrc tests"} for _ in layers],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_digest = _store_blob(layout, config_bytes)
    for layer in layers:
        _store_blob(layout, layer.data())
    manifest = {
        "schemaVersion": 2,
        "mediaType": types["manifest"],
        "config": {"mediaType": types["config"], "digest": config_digest, "size": len(config_bytes)},
        "layers": [{"mediaType": types["layer"], "digest": layer.digest, "size": layer.size} for layer in layers],
    }
    manifest_bytes = json.dumps(manifest, indent=3).encode()
    manifest_digest = _store_blob(layout, manifest_bytes)
    return GeneratedImage(
        repository=repository,
        tag=tag,
        media_type=types["manifest"],
        manifest_digest=manifest_digest,
        manifest_bytes=manifest_bytes,
        manifest_media_type=types["manifest"],
        config_digest=config_digest,
        config_size=len(config_bytes),
        config_bytes=config_bytes,
        layers=tuple(layers),
        platform=platform,
    )


def write_image(
    layout: Path,
    *,
    repository: str = "test/image",
    tag: str = "latest",
    layers: Sequence[Layer] | None = None,
    layer_sizes: Sequence[int] = (1024, 2048),
    flavour: MediaFlavour = "oci",
    platform: str = "linux/amd64",
) -> GeneratedImage:
    """Write a single-platform image into the OCI layout ``layout`` (created if needed), tagged ``tag``."""
    _init_layout(layout)
    if layers is None:
        layers = [make_layer(layout.parent / "layers", size) for size in layer_sizes]
    image = _build_image(layout, layers, flavour=flavour, platform=platform, repository=repository, tag=tag)
    _write_index_json(layout, tag, image.media_type, image.manifest_digest, len(image.manifest_bytes))
    return image


def write_index(
    layout: Path,
    *,
    repository: str = "test/multi",
    tag: str = "latest",
    platforms: Sequence[str] = ("linux/amd64", "linux/arm64", "linux/arm/v7"),
    layer_sizes: Sequence[int] = (1024,),
    shared_layers: Sequence[Layer] = (),
    flavour: MediaFlavour = "oci",
    attestation: bool = False,
    own_layers: Mapping[str, Sequence[Layer]] | None = None,
) -> GeneratedImage:
    """Write a multi-platform image (OCI index or Docker manifest list) into ``layout``: each platform gets
    ``shared_layers`` followed by its own fresh layers of ``layer_sizes`` (or, given ``own_layers``, those).
    ``attestation`` adds, as BuildKit does, an ``unknown/unknown`` attestation manifest for the first platform
    (an in-toto layer, not an image: :attr:`GeneratedImage.extras` holds its blobs)."""
    _init_layout(layout)
    types = _TYPES[flavour]
    children: dict[str, GeneratedImage] = {}
    entries = []
    for platform in platforms:
        own = (
            list(own_layers[platform]) if own_layers else [make_layer(layout.parent / "layers", n) for n in layer_sizes]
        )
        child = _build_image(
            layout, [*shared_layers, *own], flavour=flavour, platform=platform, repository=repository, tag=tag
        )
        children[platform] = child
        entries.append(
            {
                "mediaType": child.media_type,
                "digest": child.manifest_digest,
                "size": len(child.manifest_bytes),
                "platform": _platform_fields(platform),
            }
        )
    extras: dict[str, str] = {}
    if attestation:
        entry = _attestation(layout, children[platforms[0]].manifest_digest, extras)
        entries.append(entry)
    index = {"schemaVersion": 2, "mediaType": types["index"], "manifests": entries}
    index_bytes = json.dumps(index, indent=3).encode()
    index_digest = _store_blob(layout, index_bytes)
    _write_index_json(layout, tag, types["index"], index_digest, len(index_bytes))
    first = children[platforms[0]]
    return GeneratedImage(
        repository=repository,
        tag=tag,
        media_type=types["index"],
        manifest_digest=first.manifest_digest,
        manifest_bytes=first.manifest_bytes,
        manifest_media_type=first.media_type,
        config_digest=first.config_digest,
        config_size=first.config_size,
        config_bytes=first.config_bytes,
        layers=first.layers,
        platform=first.platform,
        index_digest=index_digest,
        index_bytes=index_bytes,
        children=children,
        extras=extras,
    )


def _attestation(layout: Path, subject: str, blobs: dict[str, str]) -> dict[str, object]:
    """An attestation manifest (BuildKit's shape) for ``subject``, stored in ``layout``; its index entry.
    ``blobs`` receives the digest and media type of the manifest, its config and its layer."""
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v0.1", "subject": [{"digest": subject}]}).encode()
    statement_digest = _store_blob(layout, statement)
    config = json.dumps(
        {
            "architecture": "unknown",
            "os": "unknown",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [statement_digest]},
        }
    ).encode()
    config_digest = _store_blob(layout, config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
        "layers": [
            {
                "mediaType": "application/vnd.in-toto+json",
                "digest": statement_digest,
                "size": len(statement),
                "annotations": {"in-toto.io/predicate-type": "https://spdx.dev/Document"},
            }
        ],
    }
    raw = json.dumps(manifest, indent=3).encode()
    digest = _store_blob(layout, raw)
    blobs.update({digest: OCI_MANIFEST, config_digest: OCI_CONFIG, statement_digest: "application/vnd.in-toto+json"})
    return {
        "mediaType": OCI_MANIFEST,
        "digest": digest,
        "size": len(raw),
        "platform": {"architecture": "unknown", "os": "unknown"},
        "annotations": {"vnd.docker.reference.digest": subject, "vnd.docker.reference.type": "attestation-manifest"},
    }


def _dir_transport(layout: Path, image: GeneratedImage) -> Path:
    """A skopeo ``dir:`` copy of ``layout`` (hard links).

    The ``oci:`` transport only resolves OCI media types from ``index.json``, so Docker-typed images travel
    through ``dir:``, which keeps manifests byte for byte."""
    target = layout.with_name(layout.name + "-dir")
    target.mkdir()
    (target / "version").write_text("Directory Transport Version: 1.1\n")
    (target / "manifest.json").write_bytes(image.index_bytes or image.manifest_bytes)
    if image.index_digest:
        for child in image.children.values():
            hex_digest = child.manifest_digest.removeprefix("sha256:")
            (target / f"{hex_digest}.manifest.json").write_bytes(child.manifest_bytes)
    for blob in (layout / "blobs" / "sha256").iterdir():
        os.link(blob, target / blob.name)
    return target


def skopeo_copy(registry: RunningRegistry, layout: Path, image: GeneratedImage) -> None:
    """Copy ``image`` (written into ``layout``) to ``docker://<host>/<repository>:<tag>`` with
    ``--preserve-digests`` (and ``--all`` for an index). Credentials go through an auth file, never argv."""
    argv = ["skopeo", "copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false"]
    if image.index_digest:
        argv.append("--all")
    creds = registry.credentials
    if creds is not None:
        authfile = write_authfile(layout.parent / f"{layout.name}-auth.json", registry.host, *creds)
        argv += ["--dest-authfile", str(authfile)]
    if image.media_type in (OCI_MANIFEST, OCI_INDEX):
        source = f"oci:{layout}:{image.tag}"
    else:
        source = f"dir:{_dir_transport(layout, image)}"
    destination = f"{registry.host}/{image.repository}:{image.tag}"
    argv += [source, f"docker://{destination}"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"skopeo copy to {destination} failed: {done.stderr[-2000:]}")


def _layout_dir(work_dir: Path, repository: str, tag: str) -> Path:
    base = work_dir / "layouts" / f"{repository.replace('/', '_')}-{tag}"
    index = 0
    while (candidate := base.with_name(f"{base.name}-{index}")).exists():
        index += 1
    return candidate


def push_image(
    registry: RunningRegistry,
    work_dir: Path,
    repository: str,
    tag: str = "latest",
    *,
    layers: Sequence[Layer] | None = None,
    layer_sizes: Sequence[int] = (1024, 2048),
    flavour: MediaFlavour = "oci",
    platform: str = "linux/amd64",
    keep_layout: bool = True,
) -> GeneratedImage:
    """Build a single-platform image under ``work_dir`` and push it as ``repository:tag``."""
    layout = _layout_dir(work_dir, repository, tag)
    if layers is None:
        layers = [make_layer(work_dir / "layers", size) for size in layer_sizes]
    image = write_image(layout, repository=repository, tag=tag, layers=layers, flavour=flavour, platform=platform)
    skopeo_copy(registry, layout, image)
    if not keep_layout:
        shutil.rmtree(layout)
    return image


def push_index(
    registry: RunningRegistry,
    work_dir: Path,
    repository: str,
    tag: str = "latest",
    *,
    platforms: Sequence[str] = ("linux/amd64", "linux/arm64", "linux/arm/v7"),
    layer_sizes: Sequence[int] = (1024,),
    shared_layers: Sequence[Layer] = (),
    flavour: MediaFlavour = "oci",
    attestation: bool = False,
    own_layers: Mapping[str, Sequence[Layer]] | None = None,
    keep_layout: bool = True,
) -> GeneratedImage:
    """Build a multi-platform image (index / manifest list) under ``work_dir`` and push it with ``--all``."""
    layout = _layout_dir(work_dir, repository, tag)
    image = write_index(
        layout,
        repository=repository,
        tag=tag,
        platforms=platforms,
        layer_sizes=layer_sizes,
        shared_layers=shared_layers,
        flavour=flavour,
        attestation=attestation,
        own_layers=own_layers,
    )
    skopeo_copy(registry, layout, image)
    if not keep_layout:
        shutil.rmtree(layout)
    return image
