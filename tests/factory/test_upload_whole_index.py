"""Uploads of a multi-platform OCI layout with ``IMGSRC_IMPORT_ALL_PLATFORMS``: the index is kept whole (every
platform, the attestation), as for registry imports; a partial export keeps its one platform and says why."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import select

from imgsrc.images.models import ImageBlobRow
from tests.factory.conftest import Factory, FactoryMaker
from tests.factory.uploadkit import upload, uploadable, work_left
from tests.support.images import GeneratedImage, write_index


def layout_tar(layout: Path) -> bytes:
    """The layout directory as an ``oci-archive`` tar (what ``skopeo copy --all … oci-archive:`` writes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(layout.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(layout)), recursive=False)
    return buffer.getvalue()


def claims(factory: Factory, image_id: str) -> dict[str, str]:
    with factory.client.app.state.runtime.db.session() as session:  # type: ignore[attr-defined]
        rows = session.scalars(select(ImageBlobRow).where(ImageBlobRow.image_id == image_id))
        return {row.digest: row.kind for row in rows}


@pytest.fixture
def index_layout(tmp_path: Path) -> tuple[Path, GeneratedImage]:
    layout = tmp_path / "layout"
    return layout, write_index(layout, attestation=True, layer_sizes=(3000, 1000))


def test_an_uploaded_index_is_kept_whole(make_factory: FactoryMaker, index_layout: tuple[Path, GeneratedImage]) -> None:
    layout, pushed = index_layout
    with make_factory(import_all_platforms=True) as factory:
        target = uploadable(factory)
        response = upload(factory, target, layout_tar(layout))
        assert response.status_code == 200, response.text
        image = response.json()["data"]
        assert image["state"]["current"] == "live"
        assert image["backend"]["file_id"] == pushed.children["linux/amd64"].manifest_digest
        kept = claims(factory, target.id)
        assert set(kept) == pushed.every_digest
        assert kept[pushed.index_digest or ""] == "index"
        for digest in pushed.every_digest:
            assert factory.store_has(digest), digest
        assert "keeping the index" in factory.log(target.id)
        assert work_left(factory) == []
        served = factory.client.get(
            f"/v2/{factory.hub_id}/{image['source']['details']['id']}/manifests/latest", auth=("anyone", factory.key)
        )
        assert served.status_code == 200, served.text
        assert served.content == pushed.index_bytes


def test_a_partial_export_keeps_its_platform_and_says_why(
    make_factory: FactoryMaker, index_layout: tuple[Path, GeneratedImage]
) -> None:
    layout, pushed = index_layout
    arm64 = pushed.children["linux/arm64"].manifest_digest
    (layout / "blobs" / "sha256" / arm64.removeprefix("sha256:")).unlink()
    with make_factory(import_all_platforms=True) as factory:
        target = uploadable(factory)
        response = upload(factory, target, layout_tar(layout))
        assert response.status_code == 200, response.text
        kept = claims(factory, target.id)
        assert "index" not in kept.values()
        assert set(kept) == {
            pushed.children["linux/amd64"].manifest_digest,
            pushed.children["linux/amd64"].config_digest,
            *pushed.children["linux/amd64"].layer_digests,
        }
        assert "only platform linux/amd64 kept: the archive holds only part of the index" in factory.log(target.id)
        assert not factory.store_has(pushed.children["linux/arm/v7"].layer_digests[0])
        assert work_left(factory) == []


def test_without_the_setting_an_upload_keeps_one_platform(
    make_factory: FactoryMaker, index_layout: tuple[Path, GeneratedImage]
) -> None:
    layout, pushed = index_layout
    with make_factory() as factory:
        target = uploadable(factory)
        assert upload(factory, target, layout_tar(layout)).status_code == 200
        assert "index" not in claims(factory, target.id).values()
        assert not factory.store_has(pushed.children["linux/arm64"].layer_digests[0])
