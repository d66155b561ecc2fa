"""Alembic migrations of the store of record."""
