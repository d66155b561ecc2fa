"""The job handlers of the image factory, by job header: import, delete an image, delete a source, prune."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from imgsrc.errors import InvalidArgumentError
from imgsrc.images import records
from imgsrc.jobs.build_import import build_from_dockerfile
from imgsrc.jobs.context import Handler, JobContext
from imgsrc.jobs.pipeline import ImportRun, PipelineDeps
from imgsrc.jobs.registry_import import import_from_registry
from imgsrc.sources.service import mark_deleted

__all__ = ["PRUNE_AGE", "build_handlers"]

PRUNE_AGE = timedelta(minutes=15)
_WAIT_FOR_IMPORTS = 120.0


async def _fetch(run: ImportRun, plan: records.ImportPlan) -> None:
    """Bring the image in, by the kind of its origin."""
    if plan.origin.type in ("docker-hub", "docker-registry", "oci-registry"):
        await import_from_registry(run, plan.origin, plan.override)
    elif plan.origin.type == "docker-file":
        await build_from_dockerfile(run, plan)
    else:
        raise InvalidArgumentError(f"images of `{plan.origin.type}` sources cannot be imported by a job")


def build_handlers(deps: PipelineDeps) -> dict[str, Handler]:
    db = deps.db

    async def import_image(ctx: JobContext) -> dict[str, Any] | None:
        image_id = str(ctx.input["image_id"])
        plan = await ctx.run_sync(records.load_plan, db, deps.vault, image_id)
        run = ImportRun(ctx, deps, image_id, plan.hub_id)
        await ctx.run_sync(records.reset_log, db, image_id)
        try:
            await run.log(f"job {ctx.job_id}, attempt {ctx.attempt}: {plan.origin.type} import of image {image_id}")
            await _fetch(run, plan)
        except BaseException as exc:
            await run.fail(exc)
            raise
        return {"image_id": image_id}

    async def delete_images(ctx: JobContext, image_ids: list[str]) -> int:
        """Delete images: stop their imports (waiting a while for running ones), drop their claims."""
        jobs = set(await ctx.run_sync(records.mark_deleting, db, image_ids))
        deadline = time.monotonic() + _WAIT_FOR_IMPORTS
        while jobs and time.monotonic() < deadline:
            jobs = await ctx.run_sync(records.unfinished_jobs, db, jobs)
            if jobs:
                await asyncio.sleep(0.2)
        for image_id in image_ids:
            await ctx.run_sync(records.delete_image, db, image_id)
        return len(image_ids)

    async def delete_image(ctx: JobContext) -> dict[str, Any] | None:
        image_id = str(ctx.input["image_id"])
        async with ctx.step("Delete image", image_id):
            await delete_images(ctx, [image_id])
        return {"image_id": image_id}

    async def delete_source(ctx: JobContext) -> dict[str, Any] | None:
        source_id = str(ctx.input["source_id"])
        async with ctx.step("Delete images", f"of source {source_id}"):
            images = await ctx.run_sync(records.source_images, db, source_id)
            await delete_images(ctx, images)

        def finish() -> None:
            with db.session() as session:
                mark_deleted(session, source_id)

        async with ctx.step("Delete image source", f"source {source_id}"):
            await ctx.run_sync(finish)
        return {"source_id": source_id, "images_deleted": len(images)}

    async def prune(ctx: JobContext) -> dict[str, Any] | None:
        source_ids = [str(s) for s in ctx.input["source_ids"]]
        async with ctx.step("Prune images", f"of {len(source_ids)} source(s)"):
            images = await ctx.run_sync(records.images_to_prune, db, source_ids, older_than=PRUNE_AGE)
            await delete_images(ctx, images)
        return {"images_deleted": len(images), "image_ids": ",".join(images)}

    return {
        "image.import": import_image,
        "image.delete": delete_image,
        "image.source.delete": delete_source,
        "images.prune": prune,
    }
