"""``meta=images_count``: how many images of each source are in each state."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from imgsrc.images.models import ImageRow
from imgsrc.sources.schemas import ImagesCount, ImagesCountByState

__all__ = ["images_count_by_source"]

_STATES = ("new", "uploading", "downloading", "building", "verifying", "saving", "live", "deleting")


def images_count_by_source(session: Session, source_ids: list[str]) -> dict[str, ImagesCount]:
    """Counts per source over its images that are not deleted: one grouped query for the whole page."""
    counts: dict[str, dict[str, int]] = {sid: dict.fromkeys(_STATES, 0) for sid in source_ids}
    if source_ids:
        rows = session.execute(
            select(ImageRow.source_id, ImageRow.state, func.count())
            .where(ImageRow.source_id.in_(source_ids), ImageRow.state != "deleted")
            .group_by(ImageRow.source_id, ImageRow.state)
        ).all()
        for source_id, state, number in rows:
            if state in counts[source_id]:
                counts[source_id][state] = int(number)
    return {
        sid: ImagesCount(total=sum(by_state.values()), state=ImagesCountByState(**by_state))
        for sid, by_state in counts.items()
    }
