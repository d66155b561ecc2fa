"""Builds from a Dockerfile (docker-file origins): fetch the context, build with buildah, then verify and save.

The context comes from ``override.targz_url``, else the origin's ``repo`` (git over http(s) or ssh, with the
origin's credentials), else its ``targz_url``. ``context_dir`` and ``build_file`` are located inside it by
:func:`~imgsrc.builder.resolve_context` (a path leading outside the fetched tree is the image's
``InvalidArgumentError``). ``credentials`` authenticate ``FROM`` pulls; ``build.args`` and ``build.use_disk``
come from the image. While the image is ``building``, every line the fetch and the builder print goes to the
build log as it comes (flushed at least twice a second, so a client polling the build log follows the build).
The built OCI layout is then verified and saved like any import (:func:`~imgsrc.jobs.local_image.save_local_image`):
its layers dedupe with everything already stored.

Everything happens in one work directory under ``<data_dir>/work``, removed afterwards whatever the outcome.
Cancellation (the image deleted) and the build timeout stop buildah's whole process tree (the builder's
contract); the failure protocol of :class:`~imgsrc.jobs.pipeline.ImportRun` records the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path

from imgsrc.aio import finish_uncancelled
from imgsrc.archives import read_oci_layout_dir
from imgsrc.builder import (
    BuildSpec,
    ContextSource,
    GitSource,
    RegistryCredential,
    TarballSource,
    build,
    fetch_context,
    resolve_context,
)
from imgsrc.builder.redact import redact_url
from imgsrc.errors import IntegrityError, InvalidArgumentError
from imgsrc.images import records
from imgsrc.images.schemas import ImageOverride
from imgsrc.jobs.local_image import remove_work_directory, save_local_image, work_directory
from imgsrc.jobs.pipeline import ImportRun
from imgsrc.sources.origins import DockerfileCredential, DockerFileDetails, DockerFileOrigin, RepoAuthHttp, RepoAuthSsh

__all__ = ["build_from_dockerfile", "context_source", "describe_context", "registry_credentials"]

_IDLE_FLUSH_SECONDS = 0.5


def context_source(details: DockerFileDetails, override: ImageOverride) -> ContextSource:
    """Where the build context comes from: ``override.targz_url``, else ``repo``, else ``targz_url``."""
    if override.targz_url:
        return TarballSource(override.targz_url)
    repo = details.repo
    if repo is not None:
        http = repo.auth.credentials if isinstance(repo.auth, RepoAuthHttp) else None
        ssh = repo.auth.credentials if isinstance(repo.auth, RepoAuthSsh) else None
        return GitSource(
            url=repo.url,
            branch=repo.branch,
            ref_type=repo.ref.type if repo.ref else None,
            ref_value=repo.ref.value if repo.ref else None,
            http_username=http.username if http else None,
            http_password=http.password if http else None,
            ssh_username=ssh.username if ssh else None,
            ssh_private_key=ssh.private_key if ssh else None,
            ssh_passphrase=(ssh.passphrase or None) if ssh else None,
        )
    if details.targz_url:
        return TarballSource(details.targz_url)
    raise InvalidArgumentError(
        "a docker-file source needs a build context: `repo` or `targz_url` (or the image's `override.targz_url`)",
        source="/origin/details",
    )


def describe_context(source: ContextSource) -> str:
    """The context for the build log and the image's ``reference``: URL (credentials masked) and git ref."""
    shown = redact_url(source.url)
    if isinstance(source, GitSource):
        if source.ref_type and source.ref_value:
            shown += f" ({source.ref_type} {source.ref_value})"
        elif source.branch:
            shown += f" (branch {source.branch})"
    return shown[:1024]


def registry_credentials(credentials: list[DockerfileCredential] | None) -> list[RegistryCredential]:
    """The origin's ``credentials`` for ``FROM`` pulls; each needs a ``url`` and a ``token``."""
    out: list[RegistryCredential] = []
    for index, cred in enumerate(credentials or []):
        if not cred.url or not cred.token:
            raise InvalidArgumentError(
                f"credentials[{index}] needs a `url` and a `token`", source=f"/origin/details/credentials/{index}"
            )
        out.append(RegistryCredential(cred.url, cred.username or "", cred.token))
    return out


class _LogPump:
    """Carries the lines the builder prints (synchronous callbacks, possibly from a worker thread) into the
    build log (asynchronous writes), and flushes the log when the build goes quiet, so that what was printed
    last is readable while the build runs."""

    def __init__(self, run: ImportRun) -> None:
        self._run = run
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()

    def put(self, line: str) -> None:
        if threading.get_ident() == self._thread:
            self._queue.put_nowait(line)
        else:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, line)

    async def _drain(self) -> None:
        while True:
            try:
                line = await asyncio.wait_for(self._queue.get(), _IDLE_FLUSH_SECONDS)
            except TimeoutError:
                await self._run.flush_log()
                continue
            if line is None:
                await self._run.flush_log()
                return
            await self._run.log(line)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[_LogPump]:
        """Pump while the block runs; afterwards (whatever happened) write every line received."""
        task = asyncio.create_task(self._drain())
        try:
            yield self
        except BaseException:
            self._queue.put_nowait(None)
            with contextlib.suppress(Exception):  # the error in flight is the one to report
                await finish_uncancelled(task)
            raise
        self._queue.put_nowait(None)
        await task


async def build_from_dockerfile(run: ImportRun, plan: records.ImportPlan) -> None:
    """Build the image of ``plan`` and make it ``live`` (see the module docstring)."""
    origin = plan.origin
    if not isinstance(origin, DockerFileOrigin):  # pragma: no cover - dispatched by origin type
        raise InvalidArgumentError(f"a `{origin.type}` origin is not built from a Dockerfile")
    settings = run.deps.settings
    details = origin.details
    source = context_source(details, plan.override)
    credentials = registry_credentials(details.credentials)
    shown = describe_context(source)
    work = await asyncio.to_thread(work_directory, settings, "build", run.image_id)
    try:
        await run.state("building")
        async with _LogPump(run).running() as pump:
            async with run.step("Fetch context", shown):
                fetched = work / "context"
                fetched.mkdir()
                root = await fetch_context(
                    source, fetched, settings, pump.put, allow_local=settings.build_allow_local_repos
                )
                context, dockerfile = resolve_context(root, details.context_dir, details.build_file)
                pump.put(f"context /{_inside(context, root)}, Dockerfile /{_inside(dockerfile, root)}")
            described = f"{len(plan.build_args)} build argument(s)" + (", scratch on disk" if plan.use_disk else "")
            async with run.step("Build", described):
                spec = BuildSpec(
                    context_dir=context,
                    dockerfile=dockerfile,
                    build_args=plan.build_args,
                    credentials=credentials,
                    use_disk=plan.use_disk,
                )
                scratch = work / "buildah"
                scratch.mkdir()
                result = await build(spec, work / "layout", scratch, settings, pump.put)
                pump.put(
                    f"built {result.manifest_digest} in {result.seconds:.1f}s "
                    f"(isolation {result.isolation}, storage driver {result.storage_driver})"
                )
        image = await asyncio.to_thread(
            read_oci_layout_dir,
            result.layout,
            platform=settings.default_platform,
            max_metadata_bytes=settings.max_manifest_bytes,
        )
        if image.manifest_digest != result.manifest_digest:
            raise IntegrityError(
                f"the built layout holds {image.manifest_digest}, buildah said {result.manifest_digest}"
            )
        await save_local_image(run, image, reference=shown)
    finally:
        await remove_work_directory(work)


def _inside(path: Path, root: Path) -> str:
    real_root = root.resolve()
    return str(path.relative_to(real_root)) if path != real_root and path.is_relative_to(real_root) else ""
