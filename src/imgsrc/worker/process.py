"""The worker as a whole: queue consumer threads, the job runner, and a recovery loop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from datetime import timedelta

from imgsrc.errors import ImgsrcError
from imgsrc.images.records import referenced_digests, sweep_interrupted_uploads
from imgsrc.jobs.context import Handler
from imgsrc.jobs.local_image import WORK_DIR, remove_stale_work
from imgsrc.runtime import Runtime
from imgsrc.worker.runner import JobRunner

__all__ = ["Workers"]

log = logging.getLogger(__name__)
INTERRUPTED_UPLOAD = timedelta(minutes=5)  # ten missed heartbeats of a running upload


class Workers:
    """Runs jobs for one process: in-process threads under ``serve``, or the ``imgsrc worker`` process."""

    def __init__(self, runtime: Runtime, handlers: Mapping[str, Handler]) -> None:
        self.runtime = runtime
        self.runner = JobRunner(runtime.db, handlers, lease_seconds=runtime.settings.job_lease_seconds)
        self._stop = threading.Event()
        self._recovery: threading.Thread | None = None

    def _recover_loop(self) -> None:
        settings = self.runtime.settings
        next_gc = time.monotonic()
        while not self._stop.is_set():
            try:
                found = self.runner.recover(self.runtime.queue.enqueue)
                if found:
                    log.info("recovery sent %d job(s) to the queue", found)
            except ImgsrcError:
                log.exception("job recovery pass failed; will retry")
            try:
                swept = sweep_interrupted_uploads(self.runtime.db, silent_for=INTERRUPTED_UPLOAD)
                if swept:
                    log.warning("%d upload(s) interrupted by a stopped server marked failed", len(swept))
            except ImgsrcError:
                log.exception("the sweep of interrupted uploads failed; will retry")
            if time.monotonic() >= next_gc:
                next_gc = time.monotonic() + settings.gc_interval_seconds
                self.collect_garbage()
            self._stop.wait(settings.job_recover_seconds)

    def collect_garbage(self) -> None:
        """Remove blobs no image references (older than the grace window) and abandoned temporary files."""
        settings = self.runtime.settings
        try:
            report = self.runtime.store.gc(
                lambda digests: referenced_digests(self.runtime.db, digests),
                grace_seconds=settings.gc_grace_seconds,
                temp_max_age_seconds=settings.temp_max_age_seconds,
            )
        except ImgsrcError:
            log.exception("garbage collection failed; will retry")
            return
        removed_work = remove_stale_work(settings.data_dir / WORK_DIR, settings.temp_max_age_seconds)
        if removed_work:
            log.info("removed %d abandoned work director(ies)", removed_work)
        if report.removed or report.temp_removed:
            log.info(
                "garbage collection: %d blob(s) removed (%d bytes), %d temporary file(s)",
                report.removed,
                report.bytes_freed,
                report.temp_removed,
            )

    def _start_recovery(self) -> None:
        self._recovery = threading.Thread(target=self._recover_loop, name="imgsrc-recovery", daemon=True)
        self._recovery.start()

    def start(self, threads: int) -> None:
        """Start consumer threads inside a host program (the HTTP server)."""
        self.runtime.queue.start_consumer(self.runner.run, threads)
        self._start_recovery()

    def run_forever(self, threads: int) -> None:
        """Run until SIGINT/SIGTERM (the dedicated worker process)."""
        self._start_recovery()
        try:
            self.runtime.queue.run_consumer_forever(self.runner.run, threads)
        finally:
            self.stop()

    def stop(self) -> None:
        """Cancel running jobs (they are released for the next runner) and stop the threads."""
        self._stop.set()
        self.runner.stop()
        self.runtime.queue.stop_consumer()
        if self._recovery is not None:
            self._recovery.join(timeout=5)
