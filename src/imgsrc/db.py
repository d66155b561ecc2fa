"""The store of record: SQLAlchemy 2 engine, sessions, column types and migrations.

SQLite in the data directory by default (WAL, immediate write transactions, a generous busy timeout, so the API
and in-process workers share it safely); PostgreSQL when ``IMGSRC_DATABASE_URL`` says so. The schema is owned by
Alembic migrations (``imgsrc/migrations``), applied on start under a lock so that several processes starting at
once do not race.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Engine, create_engine, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from imgsrc.errors import DatabaseError

__all__ = ["Base", "Database", "JSONType", "UTCDateTime", "after_commit"]


class _JSON(TypeDecorator[Any]):
    """JSON columns: JSONB on PostgreSQL, JSON elsewhere; Python ``None`` is SQL NULL (not the JSON literal), so
    ``IS NULL`` works on every backend. PostgreSQL's type is looked up only when that dialect is in use, so an
    embedded (SQLite) server never loads the PostgreSQL driver."""

    impl = JSON(none_as_null=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB(none_as_null=True))
        return dialect.type_descriptor(JSON(none_as_null=True))


JSONType = _JSON()


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps naive text; this restores the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


def after_commit(session: Session, callback: Callable[[], object]) -> None:
    """Run ``callback`` once the session's transaction has committed (used to enqueue jobs only when their row
    is visible to every other connection). Dropped if the transaction rolls back."""
    session.info.setdefault("after_commit", []).append(callback)


class Database:
    """An engine and its session factory. Built by the composition roots from settings, never at import."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine: Engine = create_engine(url, **kwargs)
        if self.engine.dialect.name == "sqlite":
            _configure_sqlite(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits when the block ends normally and rolls back otherwise.
        Database failures surface as :class:`DatabaseError` (``500.database``)."""
        session = self.sessions()
        try:
            yield session
            session.commit()
            callbacks = session.info.pop("after_commit", [])
        except SQLAlchemyError as exc:
            session.rollback()
            raise DatabaseError("the database could not complete the operation") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        for callback in callbacks:
            callback()

    def schema_revision(self) -> str | None:
        """The revision the database is at (``None`` for a new database)."""
        try:
            with self.engine.connect() as connection:
                return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except SQLAlchemyError:
            return None

    def migrate(self, lock_dir: Path | None = None) -> None:
        """Bring the schema to the newest revision, serialised across processes (PostgreSQL advisory lock;
        for SQLite an exclusive file lock beside the database). An up-to-date database costs one query: Alembic
        is loaded only when there is something to do."""
        from imgsrc.migrations import HEAD

        if self.schema_revision() == HEAD:
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as connection:
                connection.execute(text("SELECT pg_advisory_xact_lock(74356291)"))
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        else:
            with _file_lock(lock_dir), self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")

    def dispose(self) -> None:
        self.engine.dispose()


@contextlib.contextmanager
def _file_lock(directory: Path | None) -> Iterator[None]:
    if directory is None:
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".migrate.lock", "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _configure_sqlite(engine: Engine) -> None:
    """WAL for concurrent readers; ``BEGIN IMMEDIATE`` so a transaction takes the write lock up front and waits
    (busy timeout) instead of failing on a lock upgrade half-way through."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's "begin" hook emit BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
