"""What the warehouse holds and how new it is, from `partition_ledger`, kept in memory.

The ledger is written in the same transaction as every table write, so the latest `written_at`
and the number of ledger rows of an asset identify a version of its table. The catalog re-reads
the ledger (one small GROUP BY) at most every `version_refresh_ms`, so ETags, 304s, freshness and
`/tables` cost no query on the request path; exact row counts are computed once per version.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from core.contracts import CONTRACTS
from core.contracts.datasets import LANDING_LOGS, LANDING_USERS
from core.sql import quote
from serving.db.base import Database, DatabaseUnavailable, QueryTimeout

log = logging.getLogger("serving.catalog")
LEDGER = "partition_ledger"
# Written by the push endpoints, not by runs, so not in the ledger: append-only, and their `id`
# grows in commit order (a row never appears below an id already seen).
LANDING = (LANDING_LOGS.name, LANDING_USERS.name)


@dataclass(frozen=True)
class LedgerEntry:
    last_write: str  # ISO 8601, UTC
    partitions: int
    rows: int


@dataclass(frozen=True)
class Appended:
    """What a landing table holds: its rows, exact, up to `last_id`, the last received at
    `last_write` (ISO 8601, UTC)."""

    rows: int = 0
    last_id: int | None = None
    last_write: str | None = None


@dataclass
class Snapshot:
    tables: set[str] = field(default_factory=set)
    ledger: dict[str, LedgerEntry] = field(default_factory=dict)
    read_at: float = 0.0  # monotonic
    ok: bool = False
    # The highest `id` of each existing landing table (None while it is empty).
    landing: dict[str, int | None] = field(default_factory=dict)


class Catalog:
    def __init__(self, db: Database, refresh_ms: int) -> None:
        self.db = db
        self.refresh_s = refresh_ms / 1000
        self.snapshot = Snapshot()
        self._lock = asyncio.Lock()
        self._counts: dict[tuple[str, str], int] = {}
        self._count_locks: dict[str, asyncio.Lock] = {}
        self._appended: dict[str, Appended] = {}

    async def refresh(self) -> Snapshot:
        db = self.db
        tables = await db.existing_tables()
        ledger: dict[str, LedgerEntry] = {}
        if LEDGER in tables:
            rows = await db.fetch(
                f"SELECT asset, {db.timestamp_text('MAX(written_at)')}, COUNT(*), SUM(rows) "
                f"FROM {LEDGER} GROUP BY asset",
                kind="version",
            )
            ledger = {r[0]: LedgerEntry(r[1], int(r[2]), int(r[3] or 0)) for r in rows}
        landing: dict[str, int | None] = {}
        if names := [t for t in LANDING if t in tables]:
            # One statement: the end of each landing table's primary key.
            maxima = ", ".join(f"(SELECT MAX(id) FROM {quote(t)})" for t in names)
            (row,) = await db.fetch(f"SELECT {maxima}", kind="version")
            landing = {t: None if v is None else int(v) for t, v in zip(names, row, strict=True)}
        self.snapshot = Snapshot(tables, ledger, time.monotonic(), True, landing)
        return self.snapshot

    async def current(self) -> Snapshot:
        """The snapshot, re-read first when older than the refresh interval (single flight)."""
        snap = self.snapshot
        if snap.ok and time.monotonic() - snap.read_at < self.refresh_s:
            return snap
        if snap.ok and self._lock.locked():
            # Another request is re-reading the ledger: answer from the snapshot meanwhile.
            return snap
        async with self._lock:
            if self.snapshot is not snap and self.snapshot.ok:
                return self.snapshot
            try:
                return await self.refresh()
            except (DatabaseUnavailable, QueryTimeout):
                if not snap.ok:
                    raise
                log.warning("catalog refresh failed; serving the previous snapshot")
                return snap

    # -- versions -----------------------------------------------------------------------------
    @staticmethod
    def version(snap: Snapshot, table: str) -> str | None:
        """The version of `table` (None when the ledger does not track it)."""
        if table == LEDGER:
            if not snap.ledger:
                return None
            last = max(e.last_write for e in snap.ledger.values())
            total = sum(e.partitions for e in snap.ledger.values())
            return f"{last}/{total}"
        entry = snap.ledger.get(table)
        return f"{entry.last_write}/{entry.partitions}" if entry else None

    @staticmethod
    def last_write(snap: Snapshot, table: str) -> str | None:
        """When a run last wrote `table` (for the ledger itself: any table); None if never."""
        if table == LEDGER:
            return max((e.last_write for e in snap.ledger.values()), default=None)
        entry = snap.ledger.get(table)
        return entry.last_write if entry else None

    @staticmethod
    def etag(version: str, *parts: Any) -> str:
        digest = hashlib.blake2b(repr((version, *parts)).encode(), digest_size=12).hexdigest()
        return f'"{digest}"'

    # -- exact counts, once per version ---------------------------------------------------------
    async def exact_count(self, snap: Snapshot, table: str) -> int | None:
        """COUNT(*) of a whole table, memoized per version (None when it is not versioned)."""
        version = self.version(snap, table)
        if version is None:
            return None
        key = (table, version)
        if key in self._counts:
            return self._counts[key]
        lock = self._count_locks.setdefault(table, asyncio.Lock())
        async with lock:
            if key not in self._counts:
                rows = await self.db.fetch(f"SELECT COUNT(*) FROM {quote(table)}", kind="count")
                for stale in [k for k in self._counts if k[0] == table]:
                    del self._counts[stale]
                self._counts[key] = int(rows[0][0])
        return self._counts[key]

    async def appended(self, table: str) -> Appended:
        """The rows of landing table `table`, exact: counted whole once, then only those past
        the last id counted (rows are never deleted, and ids grow in commit order)."""
        lock = self._count_locks.setdefault(table, asyncio.Lock())
        async with lock:
            seen = self._appended.get(table, Appended())
            db = self.db
            where = "" if seen.last_id is None else "WHERE id > :last_id"
            ((added, last_id),) = await db.fetch_named(
                f"SELECT COUNT(*), MAX(id) FROM {quote(table)} {where}",
                {"last_id": seen.last_id},
                kind="count",
            )
            if last_id is None:
                return seen
            received = await db.fetch_named(
                f"SELECT {db.timestamp_text('received_at')} FROM {quote(table)} WHERE id = :id",
                {"id": last_id},
                kind="count",
            )
            seen = Appended(seen.rows + int(added), int(last_id), received[0][0])
            self._appended[table] = seen
            return seen

    def contract_tables(self, snap: Snapshot) -> list[str]:
        return [name for name in CONTRACTS if name in snap.tables]
