"""Alembic migrations of the store of record.

``HEAD`` names the newest revision, so that a server starting on an up-to-date database can tell without loading
Alembic at all (a test keeps it equal to Alembic's own idea of the head).
"""

HEAD = "0002"
