"""Databases for tests: SQLite files per test, and PostgreSQL (mandatory when ``CI=true``).

PostgreSQL comes from ``IMGSRC_TEST_POSTGRES_URL`` (default: the local server's ``test`` database). Each pytest
process creates its own database, migrates it once, and empties every table before each test that uses it.
"""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from imgsrc.db import Database

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def postgres_admin_url() -> str:
    return os.environ.get("IMGSRC_TEST_POSTGRES_URL", DEFAULT_POSTGRES)


def redis_url() -> str:
    return os.environ.get("IMGSRC_TEST_REDIS_URL", DEFAULT_REDIS)


def unavailable(what: str, why: object) -> None:
    """Skip when a service is absent on a developer's machine; fail in CI, where it must run."""
    message = f"{what} is not reachable ({why})"
    if in_ci():
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(message)


class PostgresDatabase:
    """A throwaway database on the PostgreSQL server, created once per test process."""

    def __init__(self) -> None:
        admin = make_url(postgres_admin_url())
        self.name = f"imgsrc_test_{uuid.uuid4().hex[:10]}"
        self.admin_url = admin
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        finally:
            engine.dispose()
        self.url = admin.set(database=self.name).render_as_string(hide_password=False)
        db = Database(self.url)
        db.migrate()
        db.dispose()

    def truncate(self) -> None:
        engine = create_engine(self.url)
        try:
            with engine.begin() as conn:
                tables = (
                    conn.execute(
                        text(
                            "SELECT tablename FROM pg_tables "
                            "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                        )
                    )
                    .scalars()
                    .all()
                )
                if tables:
                    conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
        finally:
            engine.dispose()

    def drop(self) -> None:
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        finally:
            engine.dispose()
