"""The app factory: ``create_app(settings)`` builds the whole HTTP server; nothing is built at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response

from imgsrc import __version__
from imgsrc.api.errors import install_error_handlers
from imgsrc.api.middleware import RequestGuard
from imgsrc.api.responses import respond
from imgsrc.api.v2 import router as registry_router
from imgsrc.hubs.routes import router as hubs_router
from imgsrc.hubs.service import bootstrap
from imgsrc.images.routes import router as images_router
from imgsrc.images.uploads import router as uploads_router
from imgsrc.jobs.routes import router as jobs_router
from imgsrc.runtime import Runtime
from imgsrc.settings import Settings
from imgsrc.sources.routes import router as sources_router

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def _streaming_path(path: str) -> bool:
    """Paths whose bodies are streamed by their route (uploads), not buffered by the request guard."""
    return path.startswith("/v1/images/") and path.endswith("/upload")


def create_app(
    settings: Settings,
    *,
    start_workers: bool = True,
    on_bootstrap: Callable[[str], None] | None = None,
) -> FastAPI:
    """The HTTP server. On start it opens (and migrates) the store of record, writes the bootstrap file on a
    fresh data directory, and starts ``settings.workers`` in-process job workers unless ``start_workers`` is
    false (for example when ``imgsrc worker`` processes run the jobs)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from imgsrc.worker.handlers import build_handlers
        from imgsrc.worker.process import Workers

        runtime = Runtime.build(settings)
        app.state.runtime = runtime
        written = bootstrap(runtime.db, settings.data_dir)
        if written is not None:
            log.info("first start: the default hub and its admin key are in %s", written)
            if on_bootstrap is not None:
                on_bootstrap(str(written))
        workers = None
        if start_workers and settings.workers > 0:
            workers = Workers(runtime, build_handlers(runtime))
            workers.start(settings.workers)
        app.state.workers = workers
        try:
            yield
        finally:
            if workers is not None:
                workers.stop()
            runtime.close()

    app = FastAPI(
        title="imgsrc",
        version=__version__,
        summary="A self-hosted image factory speaking the Cycle API wire format.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url="/redoc",
        openapi_url="/openapi.json",
    )
    install_error_handlers(app)
    app.add_middleware(RequestGuard, max_body=settings.max_body_bytes, streaming_paths=_streaming_path)
    # sources first: `/v1/images/sources` must not be read as the image with ID "sources"
    for router in (sources_router, images_router, uploads_router, jobs_router, hubs_router, registry_router):
        app.include_router(router)

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        return respond({"name": "imgsrc", "version": __version__, "openapi": "/openapi.json", "docs": "/docs"})

    @app.get("/healthz", include_in_schema=False)
    def health() -> Response:
        return respond({"status": "ok"})

    _add_security_scheme(app)
    return app


def _add_security_scheme(app: FastAPI) -> None:
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        schema.setdefault("components", {})["securitySchemes"] = {
            "apiKey": {"type": "http", "scheme": "bearer", "description": "An API key of the hub."}
        }
        schema["security"] = [{"apiKey": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
