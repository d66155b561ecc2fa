"""The job handlers of this server (composition: the pipeline's dependencies come from the runtime)."""

from __future__ import annotations

from imgsrc.jobs.context import Handler
from imgsrc.jobs.handlers import build_handlers as factory_handlers
from imgsrc.jobs.pipeline import PipelineDeps
from imgsrc.runtime import Runtime

__all__ = ["build_handlers"]


def build_handlers(runtime: Runtime) -> dict[str, Handler]:
    deps = PipelineDeps(
        settings=runtime.settings, db=runtime.db, vault=runtime.vault, store=runtime.store, external=runtime.external
    )
    return factory_handlers(deps)
