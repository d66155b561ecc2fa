"""``meta=images_count``: how many images of each source are in each state."""

from __future__ import annotations

from sqlalchemy.orm import Session

from imgsrc.sources.schemas import ImagesCount, ImagesCountByState

__all__ = ["images_count_by_source"]


def images_count_by_source(session: Session, source_ids: list[str]) -> dict[str, ImagesCount]:
    """Counts per source over its images that are not deleted. No image resource exists yet in this version of
    the store, so every count is zero."""
    return {sid: ImagesCount(total=0, state=ImagesCountByState(uploading=0)) for sid in source_ids}
