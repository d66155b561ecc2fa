"""Composition of the long-lived parts shared by the API and the workers: settings, the store of record, the
vault and the job queue. Only composition roots (``api.app``, ``worker``, ``cli``) call :meth:`Runtime.build`."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from imgsrc.db import Database, after_commit
from imgsrc.settings import Settings
from imgsrc.store import FilesystemBlobStore
from imgsrc.store.external import ExternalRegistry
from imgsrc.vault import Vault
from imgsrc.worker.queue import JobQueue

__all__ = ["Runtime"]

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    vault: Vault
    queue: JobQueue
    store: FilesystemBlobStore
    external: ExternalRegistry | None = None

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        """Open (and migrate) the database, load the vault key, connect the queue."""
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        db = Database(settings.resolved_database_url)
        db.migrate(lock_dir=settings.data_dir)
        secret = settings.secret_key.get_secret_value() if settings.secret_key else None
        vault = Vault.from_settings(secret, settings.data_dir)
        store = FilesystemBlobStore(settings.data_dir / "store")
        external = ExternalRegistry(settings) if settings.storage == "registry" else None
        return cls(settings=settings, db=db, vault=vault, queue=JobQueue(settings), store=store, external=external)

    def enqueue_after_commit(self, session: Session, job_id: str) -> None:
        """Send the job to the workers once ``session``'s transaction has committed (never before: a worker must
        find its row)."""
        after_commit(session, lambda: self.queue.enqueue(job_id))

    def close(self) -> None:
        self.queue.close()
        self.db.dispose()
