"""Engine-specific, read-only access to the warehouse."""

from __future__ import annotations

from serving.core.config import Settings
from serving.db.base import Database, DatabaseUnavailable, QueryTimeout


def open_database(settings: Settings) -> Database:
    """The `Database` for `settings.warehouse_url` (not yet connected: call `open()`)."""
    kwargs = {
        "pool_size": settings.pool_size,
        "query_timeout_ms": settings.query_timeout_ms,
        "pool_timeout_ms": settings.pool_timeout_ms,
    }
    if settings.engine == "sqlite":
        from serving.db.sqlite import SQLiteDatabase

        return SQLiteDatabase(settings.warehouse_url, **kwargs)
    if settings.engine == "postgresql":
        from serving.db.postgres import PostgresDatabase

        return PostgresDatabase(
            settings.warehouse_url, prepare_threshold=settings.pg_prepare_threshold, **kwargs
        )
    raise ValueError(
        f"unsupported WAREHOUSE_URL scheme {settings.engine!r}: use sqlite:/// or postgresql://"
    )


__all__ = ["Database", "DatabaseUnavailable", "QueryTimeout", "open_database"]
