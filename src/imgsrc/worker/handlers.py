"""The job handlers of this server, by job header (the API function that started the job)."""

from __future__ import annotations

from typing import Any

from imgsrc.jobs.context import Handler, JobContext
from imgsrc.runtime import Runtime
from imgsrc.sources.service import mark_deleted

__all__ = ["build_handlers"]


def build_handlers(runtime: Runtime) -> dict[str, Handler]:
    db = runtime.db

    async def delete_source(ctx: JobContext) -> dict[str, Any] | None:
        source_id = str(ctx.input["source_id"])

        def finish() -> None:
            with db.session() as session:
                mark_deleted(session, source_id)

        async with ctx.step("Delete image source", f"source {source_id}"):
            await ctx.run_sync(finish)
        return {"source_id": source_id}

    return {"image.source.delete": delete_source}
