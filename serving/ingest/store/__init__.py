"""The write side of the API: pushed records appended to the landing tables, all or nothing.

Landing ids are taken as `max(id) + 1...` while the writer holds the table's lock (SQLite's
write lock, a PostgreSQL advisory lock), so ids grow in commit order: a reader that sees id N
also sees every id below it, which is what lets the landing sensor use the id as a
high-water mark without ever skipping a late commit. An `Idempotency-Key` is checked and its
answer recorded under the same lock, in the same transaction as the rows.

Log batches commit in groups: the batches that arrive while a write is in flight go together
in the next transaction, with one lock, one pipeline of inserts and one commit (one fsync) for
all of them. Each batch still gets its own contiguous ids and its own answer; a group that fails
fails each of its batches, and stores none of them.

Modules: `answers` (what a write answers, idempotency), `groups` (the group commit, engine
neutral), `statements` (the write path's SQL and the tables it creates), `sqlite` and `postgres`
(each engine's transaction and writers).
"""

from __future__ import annotations

from serving.ingest.store.answers import (
    DuplicateEmail,
    Idempotency,
    IdempotencyMismatch,
    Stored,
    WarehouseBusy,
)
from serving.ingest.store.groups import LandingStore
from serving.ingest.store.postgres import PostgresLandingStore
from serving.ingest.store.sqlite import SQLiteLandingStore

__all__ = [
    "DuplicateEmail",
    "Idempotency",
    "IdempotencyMismatch",
    "LandingStore",
    "Stored",
    "WarehouseBusy",
    "open_store",
]


def open_store(
    url: str, *, write_timeout_ms: int, pool_size: int, prepare_threshold: int | None = 5
) -> LandingStore:
    """The landing store of the warehouse at `url` (connects on first use)."""
    if url.startswith("sqlite"):
        return SQLiteLandingStore(url, write_timeout_ms)
    return PostgresLandingStore(url, write_timeout_ms, pool_size, prepare_threshold)
