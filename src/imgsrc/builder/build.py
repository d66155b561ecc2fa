"""Run one buildah build and leave its image as an OCI image layout.

``buildah build`` runs in a storage of its own (see :mod:`imgsrc.builder.storage`), then ``buildah push``
copies the image into ``output_layout`` (``oci:<dir>:latest``), and the storage is removed — after success,
failure, timeout or cancellation alike. The output of both commands (stdout and stderr merged) streams line by
line to ``on_output`` while they run, with every credential value masked. The build and the push share one
deadline, ``settings.build_timeout_seconds``; when it passes, or when the awaiting task is cancelled, the
whole process tree is stopped (SIGTERM, then SIGKILL) before the storage is removed.

Scratch space: with ``use_disk`` false, buildah's ``TMPDIR`` (pulled blobs on their way into storage, the
runtime bundle) is on memory-backed ``/dev/shm`` when that has at least 2 GiB free; with ``use_disk`` true, or
without room, it is on disk under the work directory. Layer storage itself is always under the work directory.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from imgsrc.aio import finish_uncancelled
from imgsrc.builder.buildah import (
    BuildSpec,
    auth_json,
    bud_argv,
    dockerhub_override,
    push_argv,
    registries_conf,
)
from imgsrc.builder.probe import probe_host
from imgsrc.builder.redact import Redactor
from imgsrc.builder.runner import RunResult, run_streaming
from imgsrc.builder.storage import BuildStorage
from imgsrc.errors import BuildError
from imgsrc.settings import Settings

__all__ = ["BuildResult", "build", "failure_message"]

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_IMAGE_ID = re.compile(r"^(?:sha256:)?[0-9a-f]{64}$")
# Output lines that say nothing about why a build failed.
_NOISE = re.compile(
    r"level=(?:warning|info|debug)|^Getting image source signatures|^Copying (?:blob|config)|"
    r"^Writing manifest|^Storing signatures|^Trying to pull"
)
_CONTEXT_LINES = 6
_MAX_ERROR_CHARS = 600


@dataclass(frozen=True)
class BuildResult:
    """A finished build: the OCI image layout at ``layout`` holds the image tagged ``latest``, whose manifest
    digest is ``manifest_digest``; ``image_id`` is buildah's (the config digest). ``isolation`` and
    ``storage_driver`` say how it ran; ``seconds`` is the wall time of build and push."""

    layout: Path
    manifest_digest: str
    image_id: str
    isolation: str
    storage_driver: str
    seconds: float


def _shorten(line: str) -> str:
    # buildah's errors can embed whole Go structs; keep the head (the step) and the tail (the cause).
    if len(line) <= _MAX_ERROR_CHARS:
        return line
    half = _MAX_ERROR_CHARS // 2
    return f"{line[:half]} [...] {line[-half:]}"


def failure_message(tail: tuple[str, ...], returncode: int) -> str:
    """The message of a failed ``buildah build``: its ``Error:`` line (the failing step and its exit status)
    and the meaningful output lines just before it (what the failing ``RUN`` printed)."""
    error_at = max((i for i, line in enumerate(tail) if line.startswith("Error:")), default=None)
    if error_at is None:
        meaningful = [line for line in tail if not _NOISE.search(line)]
        detail = "\n".join(meaningful[-_CONTEXT_LINES:])
        return f"the build failed (buildah exit status {returncode})" + (f":\n{detail}" if detail else "")
    error = _shorten(tail[error_at].removeprefix("Error:").strip())
    before = [line for line in tail[:error_at] if not _NOISE.search(line)][-_CONTEXT_LINES:]
    message = f"the build failed: {error}"
    return message + ("\n" + "\n".join(before) if before else "")


def _read_token(path: Path, pattern: re.Pattern[str], what: str) -> str:
    try:
        value = path.read_text().strip()
    except OSError as exc:
        raise BuildError(f"buildah did not write the {what}") from exc
    if not pattern.match(value):
        raise BuildError(f"buildah wrote an unexpected {what}: {value[:80]!r}")
    return value


def _check_output_free(layout: Path) -> None:
    if layout.exists() and (not layout.is_dir() or any(layout.iterdir())):
        raise BuildError(f"the output layout {layout} is not an empty directory")


def _check_layout(layout: Path, digest: str) -> None:
    try:
        index = json.loads((layout / "index.json").read_text())
    except (OSError, ValueError) as exc:
        raise BuildError("the built image layout has no readable index.json") from exc
    digests = {m.get("digest") for m in index.get("manifests", []) if isinstance(m, dict)}
    if digest not in digests:
        raise BuildError("the built image layout does not reference the pushed manifest")


async def build(
    spec: BuildSpec,
    output_layout: Path,
    workdir: Path,
    settings: Settings,
    on_output: Callable[[str], None],
) -> BuildResult:
    """Build ``spec`` with buildah and leave the image in the OCI image layout ``output_layout`` (which must
    not exist yet, or be an empty directory).

    ``workdir`` (existing, private to this build) receives the build's storage; nothing of it is left
    afterwards. Raises :class:`BuildError` when the build fails (its message carries the failing step, its
    exit status and the lines it printed last) or times out; cancellation stops the build, cleans up and
    propagates. :class:`InvalidArgumentError` for an unusable build argument or credential URL.
    """
    _check_output_free(output_layout)
    started = time.monotonic()
    deadline = started + settings.build_timeout_seconds
    probe = await probe_host(settings, workdir)
    for note in probe.notes:
        on_output(f"[imgsrc] {note}")
    hub = dockerhub_override(settings.dockerhub_registry_url)
    registries = registries_conf(spec.credentials, hub)
    auth = auth_json(spec.credentials, hub)
    redactor = Redactor()
    for cred in spec.credentials:
        redactor.add_basic(cred.username, cred.token)
    storage = BuildStorage.create(workdir, probe.driver, use_disk=spec.use_disk)
    try:
        storage.write_config(registries=registries, auth=auth)
        on_output(
            f"[imgsrc] buildah: isolation {probe.isolation}, storage driver {probe.driver}, scratch space "
            f"{'in memory' if storage.scratch_in_memory else 'on disk'}"
        )
        env = storage.env()
        iidfile, digestfile = storage.base / "image-id", storage.base / "manifest-digest"
        argv = bud_argv(
            spec,
            storage=storage.args,
            isolation=probe.isolation,
            authfile=storage.authfile,
            iidfile=iidfile,
            retries=settings.retries,
        )
        limit = settings.build_timeout_seconds
        result = await _run(argv, env=env, on_output=on_output, redactor=redactor, deadline=deadline, limit=limit)
        if result.returncode != 0:
            raise BuildError(failure_message(result.tail, result.returncode))
        image_id = _read_token(iidfile, _IMAGE_ID, "image ID")
        argv = push_argv(image_id, output_layout, storage=storage.args, digestfile=digestfile)
        result = await _run(argv, env=env, on_output=on_output, redactor=redactor, deadline=deadline, limit=limit)
        if result.returncode != 0:
            detail = "; ".join(result.tail[-3:])
            raise BuildError(f"writing the built image failed (exit status {result.returncode}): {detail}")
        digest = _read_token(digestfile, _DIGEST, "manifest digest")
        _check_layout(output_layout, digest)
    finally:
        problems = await finish_uncancelled(asyncio.to_thread(storage.remove))
        for problem in problems:
            on_output(f"[imgsrc] clean-up: {problem}")
    return BuildResult(
        layout=output_layout,
        manifest_digest=digest,
        image_id=image_id.removeprefix("sha256:"),
        isolation=probe.isolation,
        storage_driver=probe.driver,
        seconds=time.monotonic() - started,
    )


async def _run(
    argv: list[str],
    *,
    env: dict[str, str],
    on_output: Callable[[str], None],
    redactor: Redactor,
    deadline: float,
    limit: float,
) -> RunResult:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise BuildError(f"the build timed out after {limit:g} seconds")
    return await run_streaming(
        argv,
        env=env,
        on_line=on_output,
        redactor=redactor,
        what="the build",
        time_limit=remaining,
        quoted_limit=limit,
    )
