"""Helpers of the upload tests: real archives made with skopeo from an image the tests build, multipart bodies
built by hand (so a test can cut them short or stream them slowly), and uploading through the API."""

from __future__ import annotations

import gzip
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.factory.conftest import Factory
from tests.support.baseimage import BaseImage, make_busybox_layout

FIELD = "file.tar"


@dataclass(frozen=True)
class Archives:
    """The busybox test image as skopeo writes it: ``docker`` (docker-archive), ``oci`` (oci-archive), and both
    gzip-compressed; ``base`` is the layout they were made from."""

    base: BaseImage
    docker: bytes
    oci: bytes

    def get(self, kind: str) -> bytes:
        data = self.docker if kind.startswith("docker") else self.oci
        return gzip.compress(data, compresslevel=1) if kind.endswith(".gz") else data


def skopeo_archive(layout: Path, tag: str, transport: str, dest: Path, name: str | None = None) -> bytes:
    """``skopeo copy oci:<layout>:<tag> <transport>:<dest>[:<name>]`` and the archive's bytes."""
    target = f"{transport}:{dest}" + (f":{name}" if name else "")
    subprocess.run(["skopeo", "copy", "--quiet", f"oci:{layout}:{tag}", target], check=True, capture_output=True)
    return dest.read_bytes()


@pytest.fixture(scope="session")
def archives(tmp_path_factory: pytest.TempPathFactory) -> Archives:
    work = tmp_path_factory.mktemp("archives")
    base = make_busybox_layout(work / "layout")
    docker = skopeo_archive(base.layout, "latest", "docker-archive", work / "docker.tar", "example/busybox:1")
    oci = skopeo_archive(base.layout, "latest", "oci-archive", work / "oci.tar", "latest")
    return Archives(base, docker, oci)


def multipart(data: bytes, *, field: str = FIELD, boundary: str | None = None) -> tuple[str, bytes, bytes]:
    """(content type, the body before the file data, the body after it) of a one-file multipart body."""
    boundary = boundary or secrets.token_hex(12)
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="image.tar"\r\n'
        "Content-Type: application/x-tar\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", head, tail


def chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@dataclass
class Uploadable:
    """An image of a cycle-upload source and its one-time token."""

    image: dict[str, Any]
    token: str

    @property
    def id(self) -> str:
        return str(self.image["id"])


def uploadable(factory: Factory) -> Uploadable:
    source = factory.source({"type": "cycle-upload"})
    image = factory.image(source["id"])
    token = image["source"]["details"]["origin"]["details"]["token"]
    assert token
    assert token != "********"
    return Uploadable(image, token)


def upload(
    factory: Factory, target: Uploadable, data: bytes, *, token: str | None = None, hub_id: str | None = None
) -> Any:
    """POST the archive as ``file.tar`` with no API key: the token is the credential."""
    params = {"hub-id": hub_id or factory.hub_id, "token": token if token is not None else target.token}
    files = {FIELD: ("image.tar", data, "application/x-tar")}
    return factory.client.post(f"/v1/images/{target.id}/upload", params=params, files=files)


def image_of(factory: Factory, image_id: str) -> dict[str, Any]:
    return factory.get(f"/v1/images/{image_id}").json()["data"]  # type: ignore[no-any-return]


def store_blobs(factory: Factory) -> set[str]:
    blobs = factory.data_dir / "store" / "blobs" / "sha256"
    return {p.name for p in blobs.iterdir()} if blobs.exists() else set()


def work_left(factory: Factory) -> list[Path]:
    work = factory.data_dir / "work"
    return list(work.iterdir()) if work.exists() else []
