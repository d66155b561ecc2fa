"""Work outside jobs that a dead server left half-done is tidied by the workers: an upload cut off by a crash is
failed (the image is not stuck in `uploading` forever), and abandoned work directories are removed."""

from __future__ import annotations

import os
import time
from datetime import timedelta

from sqlalchemy import update

from imgsrc.images.models import ImageRow
from imgsrc.jobs.local_image import WORK_DIR
from imgsrc.wire import utcnow
from tests.factory.conftest import Factory


def test_an_upload_abandoned_by_a_dead_server_is_failed(factory: Factory) -> None:
    source = factory.source({"type": "cycle-upload"})
    image = factory.image(source["id"])
    fresh = factory.image(source["id"])
    db = factory.client.app.state.runtime.db  # type: ignore[attr-defined]
    with db.session() as session:
        session.execute(
            update(ImageRow)
            .where(ImageRow.id == image["id"])
            .values(state="uploading", updated_at=utcnow() - timedelta(minutes=30))
        )
        session.execute(update(ImageRow).where(ImageRow.id == fresh["id"]).values(state="uploading"))
    deadline = time.monotonic() + 20
    while factory.get(f"/v1/images/{image['id']}").json()["data"]["state"]["current"] != "new":
        assert time.monotonic() < deadline, "the abandoned upload was not swept"
        time.sleep(0.1)
    swept = factory.get(f"/v1/images/{image['id']}").json()["data"]
    assert "interrupted" in swept["state"]["error"]["message"]
    # an upload that shows signs of life is left alone
    assert factory.get(f"/v1/images/{fresh['id']}").json()["data"]["state"]["current"] == "uploading"


def test_abandoned_work_directories_are_removed(factory: Factory) -> None:
    work = factory.data_dir / WORK_DIR
    old, new = work / "build-old", work / "upload-new"
    for path in (old / "inner", new):
        path.mkdir(parents=True)
    (old / "inner" / "file").write_text("left by a crash")
    long_ago = time.time() - 7 * 3600
    os.utime(old, (long_ago, long_ago))
    factory.client.app.state.workers.collect_garbage()  # type: ignore[attr-defined]
    assert not old.exists()
    assert new.exists()
