"""The embedded default: SQLite, one file, WAL journal, `executemany` in one transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from core.contracts import Contract
from core.sql import SQLITE, fts_table, quote
from core.warehouse.writes import BULK_BATCH_ROWS, Warehouse

# SQLite's page cache while writing. Rows arrive in key order and secondary indexes are either
# built at the end of a large write or have few hot pages, so a small cache loses nothing; a
# large one only holds dirty pages until the commit.
WRITE_CACHE_KIB = 16 * 1024


class SQLiteWarehouse(Warehouse):
    """The embedded default: one file, WAL journal, a busy timeout on every connection."""

    dialect = SQLITE
    busy_timeout_s = 30.0

    def __init__(self, url: str, run_id: str | None = None) -> None:
        super().__init__(url, run_id)
        path = url.split(":///", 1)[1] if ":///" in url else url.removeprefix("sqlite:")
        self.path = Path(path or "data/warehouse.db")

    def connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are opened explicitly with BEGIN IMMEDIATE below.
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        # Safe under WAL against application crashes; only an OS crash can lose the last commit.
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _open_held(self) -> sqlite3.Connection:
        conn = self.connect()
        conn.execute(f"PRAGMA cache_size=-{WRITE_CACHE_KIB}")
        return conn

    def _open_session(self) -> sqlite3.Connection:
        conn = self._open_held()
        # A session's days commit one by one, and the default checkpoint after every 1,000 WAL
        # pages copied the same hot index pages into the database file, with two fsyncs, every
        # few days: 30 % of a 180-day range's time. The session checkpoints once, at its end.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        return conn

    def _close_session(self, conn: sqlite3.Connection) -> None:
        try:
            # PASSIVE: never waits for readers; what they still hold, a later checkpoint copies.
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        held = self._held
        conn = held if held is not None else self._open_held()
        try:
            # Take the write lock up front so two writers queue instead of deadlocking.
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                self._forget_ddl()
                raise
            conn.execute("COMMIT")
        finally:
            if held is None:
                conn.close()

    def _lock(self, conn: sqlite3.Connection, table: str, names: Sequence[str]) -> None:
        """Nothing to do: `BEGIN IMMEDIATE` already admits one writer at a time."""

    def _ensure(self, conn: sqlite3.Connection, contract: Contract) -> None:
        if contract.name in self._ensured:
            return
        fts = fts_table(contract)
        new_index = (
            contract.search
            and not conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", [fts]).fetchone()
        )
        super()._ensure(conn, contract)
        if new_index:
            # Index the rows written before the index existed.
            conn.execute(f"INSERT INTO {quote(fts)} ({quote(fts)}) VALUES ('rebuild')")

    def _existing_columns(self, conn: sqlite3.Connection, table_name: str) -> list[str]:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({quote(table_name)})")]

    def _bulk_insert(self, conn: sqlite3.Connection, table_name: str, data: pa.Table) -> None:
        cols = ", ".join(quote(c) for c in data.column_names)
        sql = (
            f"INSERT INTO {quote(table_name)} ({cols}) "
            f"VALUES ({', '.join([self.dialect.placeholder] * data.num_columns)})"
        )
        # In slices, so that only one slice at a time exists as Python objects.
        for batch in data.to_batches(max_chunksize=BULK_BATCH_ROWS):
            columns = []
            for array in batch.columns:
                if pa.types.is_date(array.type) or pa.types.is_timestamp(array.type):
                    array = array.cast(pa.string())
                columns.append(array.to_pylist())
            conn.executemany(sql, zip(*columns, strict=True))

    def _read_arrow(
        self, conn: sqlite3.Connection, contract: Contract, sql: str, params: list[Any]
    ) -> pa.Table:
        rows = conn.execute(sql, params).fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(contract.columns)
        arrays = []
        for col, values in zip(contract.columns, columns, strict=True):
            if col.type in ("date", "timestamp"):
                arrays.append(pa.array(values, pa.string()).cast(col.arrow_type))
            elif col.type == "bool":
                arrays.append(pa.array(values, pa.int64()).cast(pa.bool_()))
            else:
                arrays.append(pa.array(values, col.arrow_type))
        return pa.Table.from_arrays(arrays, schema=contract.arrow_schema)
