"""The warehouse: tables created from the contracts, partitions replaced atomically.

One code path for both engines. Every write runs in one transaction: a partition's old rows are
deleted and the new ones inserted together, so a failed or killed write leaves the previous rows
in place and a re-run replaces exactly the same rows. Bulk inserts take each engine's fast path:
`COPY` on PostgreSQL, `executemany` in one WAL transaction on SQLite.
"""

from __future__ import annotations

import io
import json
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv

from core.contracts import Column, Contract, ContractError
from core.contracts.datasets import PARTITION_LEDGER, QUARANTINE
from core.sql import (
    POSTGRES,
    SQLITE,
    Dialect,
    fts_table,
    indexes,
    key_slices,
    primary_key,
    quote,
    timestamp_text,
)

DEFAULT_WAREHOUSE_URL = "sqlite:///data/warehouse.db"
# Bulk loads go in slices, so neither the COPY text nor SQLite's Python rows ever hold a whole
# partition at once (16,384 rows are ~7 MB as Python objects).
BULK_BATCH_ROWS = 16_384
# A write that brings at least twice the rows the rest of its table holds (by
# `partition_ledger`), and at least this many, builds the table's secondary indexes once at its
# end instead of updating them row by row. The sort costs a half to a third of an update per
# row, but over the whole table, so it pays when the write is most of the table (a first load).
DEFER_INDEXES_MIN_ROWS = 100_000
# PostgreSQL: how long a large write waits for the table's lock to drop its indexes.
DROP_INDEX_LOCK_TIMEOUT = "500ms"
# Offending rows a failed version keeps in `quarantine`, per check (the check's metadata has the
# exact count); a day whose every row fails must not hold a million rows in memory as JSON.
QUARANTINE_MAX_ROWS = 100_000
# SQLite's page cache while writing. Rows arrive in key order and secondary indexes are either
# built at the end of a large write or have few hot pages, so a small cache loses nothing; a
# large one only holds dirty pages until the commit (256 MB cost +190 MB of RSS on 1M rows).
WRITE_CACHE_KIB = 16 * 1024


class Warehouse(ABC):
    """A warehouse database reached by URL; see `open_warehouse`."""

    dialect: Dialect = SQLITE

    def __init__(self, url: str, run_id: str | None = None) -> None:
        self.url = url
        # Recorded in `partition_ledger` beside every write.
        self.run_id = run_id
        self._ensured: set[str] = set()
        # The connection `session()` holds open; `transaction()` then runs on it.
        self._held: Any | None = None

    # -- engine specifics -------------------------------------------------------------------
    @abstractmethod
    def connect(self) -> Any:
        """A new DB-API connection."""

    @abstractmethod
    def transaction(self) -> Iterator[Any]:
        """A connection inside one transaction: committed on exit, rolled back on error."""

    @contextmanager
    def session(self) -> Iterator[None]:
        """One connection for every `transaction()` inside the block, each still its own
        transaction: a range of partitions, written one transaction per partition, opens and
        closes one connection instead of one per partition. Not shared across threads."""
        if self._held is not None:
            yield
            return
        self._held = self._open_session()
        try:
            yield
        finally:
            held, self._held = self._held, None
            self._close_session(held)

    def _open_held(self) -> Any:
        return self.connect()

    def _open_session(self) -> Any:
        """The connection a `session()` holds."""
        return self._open_held()

    def _close_session(self, conn: Any) -> None:
        """Close the connection a `session()` held."""
        conn.close()

    @abstractmethod
    def _bulk_insert(self, conn: Any, table_name: str, data: pa.Table) -> None: ...

    @abstractmethod
    def _existing_columns(self, conn: Any, table_name: str) -> list[str]: ...

    @abstractmethod
    def _read_arrow(
        self, conn: Any, contract: Contract, sql: str, params: Sequence[Any]
    ) -> pa.Table: ...

    @property
    @abstractmethod
    def engine(self) -> str:
        """`sqlite` or `postgresql`."""

    # -- DDL (the dialect's) ----------------------------------------------------------------
    @property
    def placeholder(self) -> str:
        return self.dialect.placeholder

    def _column_ddl(self, col: Column) -> str:
        return self.dialect.column_ddl(col)

    def primary_key(self, contract: Contract) -> tuple[str, ...]:
        return primary_key(contract)

    def create_statements(self, contract: Contract) -> list[str]:
        """DDL for the contract's table and its indexes (idempotent)."""
        return self.dialect.create_statements(contract)

    def _ddl_needed(self, conn: Any, contract: Contract) -> bool:
        """Whether the table or one of its indexes is missing (always checked by running the
        idempotent DDL, unless an engine can tell without taking locks)."""
        return True

    def _ensure(self, conn: Any, contract: Contract) -> None:
        if contract.name in self._ensured:
            return
        if self._ddl_needed(conn, contract):
            for stmt in self.create_statements(contract):
                conn.execute(stmt)
        existing = self._existing_columns(conn, contract.name)
        extra = [c for c in existing if c not in contract.column_names]
        if extra:
            raise ContractError(
                f"table {contract.name} has columns the contract does not declare: {extra}"
            )
        for col in contract.columns:
            if col.name not in existing:
                if not col.nullable:
                    raise ContractError(
                        f"table {contract.name} lacks required column {col.name}; migrate it first"
                    )
                conn.execute(
                    f"ALTER TABLE {quote(contract.name)} ADD COLUMN {self._column_ddl(col)}"
                )
        self._ensured.add(contract.name)

    def _forget_ddl(self) -> None:
        """After a rollback: a table the transaction created is gone, so check again."""
        self._ensured.clear()

    def ensure_table(self, contract: Contract) -> None:
        """Create the contract's table and indexes if they do not exist."""
        with self.transaction() as conn:
            self._ensure(conn, contract)

    # -- writes -----------------------------------------------------------------------------
    def in_list(self, values: Sequence[Any]) -> str:
        """A parenthesized list of placeholders for `values`."""
        return self.dialect.in_list(values)

    @contextmanager
    def _use(self, conn: Any | None) -> Iterator[Any]:
        """`conn` when the caller holds a transaction, else a transaction of our own."""
        if conn is not None:
            yield conn
        else:
            with self.transaction() as own:
                yield own

    def replace_partitions(
        self,
        contract: Contract,
        data: pa.Table | Iterable[pa.Table],
        partitions: Sequence[str],
        conn: Any | None = None,
    ) -> int:
        """Replace the rows of `partitions` with `data`, in one transaction.

        `data` is a table or an iterable of tables (loaded one at a time, so a large partition
        never sits in memory whole). Every row must belong to one of `partitions`; no rows
        clears the partitions (and still creates the table). Pass `conn` (from `transaction()`)
        to make several writes one transaction. Returns the number of rows written.
        """
        part, keys = self._partition_keys(contract, partitions)
        rows = dict.fromkeys(keys, 0)
        with self._use(conn) as c:
            self._ensure(c, contract)
            self._delete_partitions(c, contract.name, part, keys)
            deferred = _DeferredIndexes(self, c, contract, keys)
            for chunk in [data] if isinstance(data, pa.Table) else data:
                chunk = contract.conform(chunk)
                if not chunk.num_rows:
                    continue
                counts = chunk.group_by(part).aggregate([([], "count_all")])
                found = counts[part].cast(pa.string()).to_pylist()
                outside = set(found) - set(keys)
                if outside:
                    raise ContractError(
                        f"{contract.name}: rows for partitions {sorted(outside)[:5]} "
                        f"outside the write {keys[:5]}"
                    )
                deferred.before_insert(sum(rows.values()) + chunk.num_rows)
                self._bulk_insert(c, contract.name, chunk)
                for key, n in zip(found, counts["count_all"].to_pylist(), strict=True):
                    rows[key] += n
            deferred.build()
            self._record(c, contract, rows)
        return sum(rows.values())

    def _rows_elsewhere(self, conn: Any, contract: Contract, keys: list[str]) -> int:
        """Rows of `contract`'s table outside the partitions `keys`, by `partition_ledger`."""
        self._ensure(conn, PARTITION_LEDGER)
        total = 0
        for chunk in key_slices(keys):
            total += conn.execute(
                "SELECT COALESCE(SUM(rows), 0) FROM partition_ledger WHERE asset = "
                f"{self.placeholder} AND partition NOT IN {self.in_list(chunk)}",
                [contract.name, *chunk],
            ).fetchone()[0]
        return int(total)

    def _drop_indexes(self, conn: Any, names: list[str]) -> bool:
        """Drop these indexes inside the write's transaction; False if that cannot be done now."""
        for name in names:
            conn.execute(f"DROP INDEX IF EXISTS {quote(name)}")
        return True

    @staticmethod
    def _partition_keys(contract: Contract, partitions: Sequence[str]) -> tuple[str, list[str]]:
        """The partition column and the keys of a partition write, which must name some."""
        if not contract.partition_column:
            raise ValueError(f"{contract.name} is not partitioned")
        if not partitions:
            raise ValueError("no partitions to replace")
        return contract.partition_column, [str(p) for p in partitions]

    @abstractmethod
    def _lock(self, conn: Any, table: str, names: Sequence[str]) -> None:
        """Hold the write of these partitions (or slices) of `table` until the transaction ends,
        so that two runs rebuilding the same partition queue instead of colliding on its key."""

    def _delete_partitions(self, conn: Any, table: str, column: str, keys: list[str]) -> None:
        self._lock(conn, table, keys)
        for chunk in key_slices(keys):
            conn.execute(
                f"DELETE FROM {quote(table)} WHERE {quote(column)} IN {self.in_list(chunk)}", chunk
            )

    def _record(self, conn: Any, contract: Contract, rows: dict[str, int]) -> None:
        """Note in `partition_ledger` what this write put in each partition."""
        self._ensure(conn, PARTITION_LEDGER)
        now = timestamp_text(datetime.now(UTC))
        p = self.placeholder
        conn.cursor().executemany(
            "INSERT INTO partition_ledger (asset, partition, rows, written_at, run_id) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}) ON CONFLICT (asset, partition) DO UPDATE SET "
            "rows = excluded.rows, written_at = excluded.written_at, run_id = excluded.run_id",
            [(contract.name, key, n, now, self.run_id) for key, n in rows.items()],
        )

    def published(self, contract: Contract, partitions: Sequence[str]) -> set[str]:
        """Those of `partitions` that a write has published (their row in `partition_ledger`)."""
        found: set[str] = set()
        with self.transaction() as conn:
            self._ensure(conn, PARTITION_LEDGER)
            for chunk in key_slices(list(partitions)):
                rows = conn.execute(
                    f"SELECT partition FROM partition_ledger WHERE asset = {self.placeholder} "
                    f"AND partition IN {self.in_list(chunk)}",
                    [contract.name, *chunk],
                ).fetchall()
                found.update(row[0] for row in rows)
        return found

    def upsert(self, contract: Contract, data: pa.Table, conn: Any | None = None) -> int:
        """Insert `data`, updating rows whose key already exists. Returns rows written."""
        data = contract.conform(data)
        staging = f"_staging_{contract.name}"
        cols = ", ".join(quote(c) for c in contract.column_names)
        key = ", ".join(quote(c) for c in self.primary_key(contract))
        updates = ", ".join(
            f"{quote(c)} = excluded.{quote(c)}"
            for c in contract.column_names
            if c not in self.primary_key(contract)
        )
        with self._use(conn) as c:
            self._ensure(c, contract)
            c.execute(f"DROP TABLE IF EXISTS {quote(staging)}")
            c.execute(self._temp_like(staging, contract.name))
            if data.num_rows:
                self._bulk_insert(c, staging, data)
            # `WHERE true` lets SQLite parse ON CONFLICT after INSERT ... SELECT.
            c.execute(
                f"INSERT INTO {quote(contract.name)} ({cols}) SELECT {cols} FROM {quote(staging)} "
                f"WHERE true ON CONFLICT ({key}) "
                + (f"DO UPDATE SET {updates}" if updates else "DO NOTHING")
            )
            c.execute(f"DROP TABLE {quote(staging)}")
            self._record(c, contract, {"": data.num_rows})
        return data.num_rows

    def replace_from_query(
        self,
        contract: Contract,
        where: str,
        where_params: Sequence[Any],
        select_sql: str,
        select_params: Sequence[Any] = (),
        *,
        slice_name: str,
        conn: Any | None = None,
    ) -> int:
        """Delete the rows matching `where`, then insert the result of `select_sql`, atomically.

        `select_sql` yields the contract's columns in order; it runs inside the database, so
        derived tables never travel through Python. `slice_name` names the replaced rows in
        `partition_ledger` (e.g. `source=users`). Returns the number of rows inserted.
        """
        cols = ", ".join(quote(c) for c in contract.column_names)
        with self._use(conn) as c:
            self._ensure(c, contract)
            self._lock(c, contract.name, [slice_name])
            c.execute(f"DELETE FROM {quote(contract.name)} WHERE {where}", list(where_params))
            cur = c.execute(
                f"INSERT INTO {quote(contract.name)} ({cols}) {select_sql}", list(select_params)
            )
            self._record(c, contract, {slice_name: cur.rowcount})
            return cur.rowcount

    def replace_partitions_from_query(
        self,
        contract: Contract,
        partitions: Sequence[str],
        select_sql: str,
        select_params: Sequence[Any] = (),
        conn: Any | None = None,
    ) -> dict[str, int]:
        """Replace the rows of `partitions` with the result of `select_sql`, atomically.

        `replace_partitions` for a derived table that never travels through Python: the query
        runs inside the database and yields the contract's columns in order, only rows of
        `partitions` (else `ContractError`, and nothing changes). Each partition gets its own
        `partition_ledger` row, zero for an empty one. Returns the rows written per partition.
        """
        part, keys = self._partition_keys(contract, partitions)
        cols = ", ".join(quote(c) for c in contract.column_names)
        table, column = quote(contract.name), quote(part)
        rows = dict.fromkeys(keys, 0)
        with self._use(conn) as c:
            self._ensure(c, contract)
            self._delete_partitions(c, contract.name, part, keys)
            inserted = c.execute(f"INSERT INTO {table} ({cols}) {select_sql}", list(select_params))
            for chunk in key_slices(keys):
                for key, n in c.execute(
                    f"SELECT {column}, COUNT(*) FROM {table} "
                    f"WHERE {column} IN {self.in_list(chunk)} GROUP BY {column}",
                    chunk,
                ).fetchall():
                    rows[str(key)] = int(n)
            if sum(rows.values()) != inserted.rowcount:
                raise ContractError(
                    f"{contract.name}: the query wrote {inserted.rowcount} row(s), "
                    f"{sum(rows.values())} of them in the partitions replaced {keys[:5]}"
                )
            self._record(c, contract, rows)
        return rows

    # -- write, audit, publish --------------------------------------------------------------
    def select(
        self,
        conn: Any,
        contract: Contract,
        where: str,
        params: Sequence[Any] = (),
        limit: int | None = None,
    ) -> pa.Table:
        """The contract's rows matching `where`, in key order, read on `conn`: inside a write's
        transaction it sees the rows the write has not committed yet."""
        sql = (
            f"SELECT {self._select_list(contract)} FROM {quote(contract.name)} WHERE {where} "
            f"ORDER BY {', '.join(quote(c) for c in self.primary_key(contract))}"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._read_arrow(conn, contract, sql, params)

    def has_rows_outside(self, conn: Any, contract: Contract, partition: str) -> bool:
        """Whether the table holds rows of any partition but `partition`: two seeks on the
        primary key, which the partition column leads."""
        column, table = quote(contract.partition_column or ""), quote(contract.name)
        p = self.placeholder
        return bool(
            conn.execute(
                f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {column} < {p}) "
                f"OR EXISTS (SELECT 1 FROM {table} WHERE {column} > {p})",
                [partition, partition],
            ).fetchone()[0]
        )

    def quarantine(
        self, asset: str, partition: str, offending: dict[str, pa.Table], conn: Any | None = None
    ) -> int:
        """Keep the offending rows of a version that failed its blocking checks (by check name),
        replacing what an earlier failed version of the partition left. Returns rows kept."""
        now = datetime.now(UTC)
        rows = [
            {
                "asset": asset,
                "partition": partition,
                "check_name": check,
                "row_number": number,
                "row": json.dumps(row, default=str, ensure_ascii=False),
                "run_id": self.run_id,
                "quarantined_at": now,
            }
            for check, table in offending.items()
            for number, row in enumerate(table.slice(0, QUARANTINE_MAX_ROWS).to_pylist(), 1)
        ]
        with self._use(conn) as c:
            self.release(asset, [partition], conn=c)
            if rows:
                self._bulk_insert(
                    c, QUARANTINE.name, QUARANTINE.conform(pa.Table.from_pylist(rows))
                )
        return len(rows)

    def release(self, asset: str, partitions: Sequence[str], conn: Any | None = None) -> None:
        """Drop what failed versions of these partitions left in `quarantine`: a good version
        was published (or a failed one is about to replace them)."""
        with self._use(conn) as c:
            self._ensure(c, QUARANTINE)
            for chunk in key_slices([str(p) for p in partitions]):
                c.execute(
                    f"DELETE FROM quarantine WHERE asset = {self.placeholder} "
                    f"AND partition IN {self.in_list(chunk)}",
                    [asset, *chunk],
                )

    # -- SQL that differs between engines ---------------------------------------------------
    @abstractmethod
    def sql_date_to_timestamp(self, expr: str) -> str:
        """A date column as a timestamp at midnight UTC."""

    def sql_json(self, expr: str) -> str:
        """JSON text as the engine's JSON column type takes it (text on SQLite)."""
        return expr

    @abstractmethod
    def sql_decimal_text(self, expr: str, places: int) -> str:
        """A number as text with a fixed number of decimal places."""

    @property
    @abstractmethod
    def timestamp_param(self) -> str:
        """A placeholder for a `timestamp_text` value where SQL cannot infer its type."""

    @abstractmethod
    def _temp_like(self, staging: str, table: str) -> str: ...

    # -- reads ------------------------------------------------------------------------------
    def read(
        self,
        contract: Contract,
        partitions: Sequence[str] | None = None,
        order_by: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> pa.Table:
        """Read a contract's table (or some of its partitions) as an Arrow table."""
        sql = f"SELECT {self._select_list(contract)} FROM {quote(contract.name)}"
        params: list[Any] = []
        if partitions is not None:
            if not contract.partition_column:
                raise ValueError(f"{contract.name} is not partitioned")
            if not partitions:
                return contract.empty()
            params = [str(p) for p in partitions]
            sql += f" WHERE {quote(contract.partition_column)} IN {self.in_list(params)}"
        sql += " ORDER BY " + ", ".join(quote(c) for c in (order_by or self.primary_key(contract)))
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self.transaction() as conn:
            self._ensure(conn, contract)
            return self._read_arrow(conn, contract, sql, params)

    def _select_list(self, contract: Contract) -> str:
        return ", ".join(quote(c) for c in contract.column_names)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read query and return its rows."""
        with self.transaction() as conn:
            return list(conn.execute(sql, list(params)).fetchall())

    def table_exists(self, name: str) -> bool:
        with self.transaction() as conn:
            return bool(self._existing_columns(conn, name))

    def count(self, contract: Contract, partitions: Sequence[str] | None = None) -> int:
        sql = f"SELECT COUNT(*) FROM {quote(contract.name)}"
        params: list[str] = []
        if partitions is not None and contract.partition_column:
            params = [str(p) for p in partitions]
            sql += f" WHERE {quote(contract.partition_column)} IN {self.in_list(params)}"
        return self.query(sql, params)[0][0]


class SQLiteWarehouse(Warehouse):
    """The embedded default: one file, WAL journal, a busy timeout on every connection."""

    dialect = SQLITE
    busy_timeout_s = 30.0

    def __init__(self, url: str, run_id: str | None = None) -> None:
        super().__init__(url, run_id)
        path = url.split(":///", 1)[1] if ":///" in url else url.removeprefix("sqlite:")
        self.path = Path(path or "data/warehouse.db")

    @property
    def engine(self) -> str:
        return "sqlite"

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

    def sql_date_to_timestamp(self, expr: str) -> str:
        return f"({expr} || ' 00:00:00.000000Z')"

    def sql_decimal_text(self, expr: str, places: int) -> str:
        return f"printf('%.{places}f', {expr})"

    @property
    def timestamp_param(self) -> str:
        return "?"

    def _existing_columns(self, conn: sqlite3.Connection, table_name: str) -> list[str]:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({quote(table_name)})")]

    def _temp_like(self, staging: str, table: str) -> str:
        return f"CREATE TEMP TABLE {quote(staging)} AS SELECT * FROM {quote(table)} WHERE 0"

    def _bulk_insert(self, conn: sqlite3.Connection, table_name: str, data: pa.Table) -> None:
        cols = ", ".join(quote(c) for c in data.column_names)
        sql = (
            f"INSERT INTO {quote(table_name)} ({cols}) VALUES ({', '.join('?' * data.num_columns)})"
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
        self, conn: sqlite3.Connection, contract: Contract, sql: str, params: Sequence[Any]
    ) -> pa.Table:
        rows = conn.execute(sql, list(params)).fetchall()
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


class PostgresWarehouse(Warehouse):
    """The production warehouse: PostgreSQL through psycopg 3, bulk loads through COPY."""

    dialect = POSTGRES

    def __init__(self, url: str, run_id: str | None = None) -> None:
        super().__init__(url, run_id)
        # Accept SQLAlchemy-style schemes (postgresql+psycopg://) as well as libpq's.
        scheme, rest = url.split("://", 1)
        self.dsn = "postgresql://" + rest if scheme.startswith("postgres") else url

    @property
    def engine(self) -> str:
        return "postgresql"

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn, options="-c timezone=UTC")

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        try:
            if self._held is not None:
                with self._held.transaction():
                    yield self._held
                return
            with self.connect() as conn:
                # psycopg commits on a clean exit of the block and rolls back on an exception.
                yield conn
        except BaseException:
            self._forget_ddl()
            raise

    def _ddl_needed(self, conn: psycopg.Connection, contract: Contract) -> bool:
        # `CREATE INDEX IF NOT EXISTS` takes a SHARE lock on the table until the transaction
        # ends even when the index exists: two writers of one table would each hold it and then
        # deadlock on their DELETEs. The catalog answers without locking.
        found = {
            r[0]
            for r in conn.execute(
                "SELECT indexname FROM pg_indexes "
                "WHERE schemaname = current_schema() AND tablename = %s",
                [contract.name],
            ).fetchall()
        }
        wanted = {name for name, _, _ in indexes(contract)}
        if contract.search:
            wanted.add(fts_table(contract))
        return not found or not wanted <= found

    def _lock(self, conn: psycopg.Connection, table: str, names: Sequence[str]) -> None:
        # Transaction-scoped advisory locks, taken in key order so overlapping ranges never
        # deadlock. Under READ COMMITTED the waiting writer's DELETE then sees the rows the
        # first one committed, and replaces them.
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s || '/' || k, 0)) "
            "FROM (SELECT k FROM unnest(CAST(%s AS text[])) AS k ORDER BY k) AS keys",
            [table, list(names)],
        )

    def _drop_indexes(self, conn: psycopg.Connection, names: list[str]) -> bool:
        # DROP INDEX waits for the table's lock behind every other transaction on it; another
        # writer of the table may wait for ours in turn. Wait briefly, in a savepoint, and keep
        # the indexes (updating them row by row) if the lock is not free.
        previous = conn.execute("SHOW lock_timeout").fetchone()[0]
        conn.execute("SELECT set_config('lock_timeout', %s, true)", [DROP_INDEX_LOCK_TIMEOUT])
        try:
            with conn.transaction():
                super()._drop_indexes(conn, names)
        except psycopg.errors.LockNotAvailable:
            return False
        finally:
            conn.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
        return True

    def sql_date_to_timestamp(self, expr: str) -> str:
        return f"CAST({expr} AS TIMESTAMPTZ)"

    def sql_json(self, expr: str) -> str:
        return f"CAST({expr} AS JSONB)"

    def sql_decimal_text(self, expr: str, places: int) -> str:
        return f"to_char({expr}, 'FM999999999999990.{'0' * places}')"

    @property
    def timestamp_param(self) -> str:
        return "CAST(%s AS TIMESTAMPTZ)"

    def _existing_columns(self, conn: psycopg.Connection, table_name: str) -> list[str]:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
            [table_name],
        ).fetchall()
        return [r[0] for r in rows]

    def _temp_like(self, staging: str, table: str) -> str:
        return f"CREATE TEMP TABLE {quote(staging)} (LIKE {quote(table)}) ON COMMIT DROP"

    def _bulk_insert(self, conn: psycopg.Connection, table_name: str, data: pa.Table) -> None:
        cols = ", ".join(quote(c) for c in data.column_names)
        options = pa_csv.WriteOptions(include_header=False)
        with conn.cursor().copy(
            f"COPY {quote(table_name)} ({cols}) FROM STDIN WITH (FORMAT csv)"
        ) as copy:
            for batch in data.to_batches(max_chunksize=BULK_BATCH_ROWS):
                buf = io.BytesIO()
                # pyarrow writes NULL as an empty field and '' as "": COPY's csv convention.
                pa_csv.write_csv(batch, buf, options)
                copy.write(buf.getbuffer())

    def _select_list(self, contract: Contract) -> str:
        parts = []
        for col in contract.columns:
            if col.type == "timestamp":
                parts.append(
                    f"to_char({quote(col.name)} AT TIME ZONE 'UTC', "
                    f'\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\') AS {quote(col.name)}'
                )
            else:
                parts.append(quote(col.name))
        return ", ".join(parts)

    def _read_arrow(
        self, conn: psycopg.Connection, contract: Contract, sql: str, params: Sequence[Any]
    ) -> pa.Table:
        buf = io.BytesIO()
        with conn.cursor().copy(
            f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", list(params) or None
        ) as copy:
            for chunk in copy:
                buf.write(chunk)
        if buf.tell() == 0:
            return contract.empty()
        buf.seek(0)
        table = pa_csv.read_csv(
            buf,
            read_options=pa_csv.ReadOptions(column_names=contract.column_names),
            convert_options=pa_csv.ConvertOptions(
                column_types=contract.arrow_schema,
                # COPY writes NULL as an unquoted empty field and '' as a quoted one; nothing
                # else is NULL (pyarrow's defaults would read Namibia's code "NA" as one).
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                true_values=["t"],
                false_values=["f"],
            ),
        )
        return contract.conform(table)


class _DeferredIndexes:
    """The secondary indexes of one partition write, built at its end when the write is large.

    Once the rows written reach both `DEFER_INDEXES_MIN_ROWS` and twice the rows the rest of
    the table holds, the contract's (non-unique) indexes are dropped and created again after the
    last row, inside the same transaction: one sort of the table instead of a B-tree update per
    row. A failed write rolls the drop back with everything else. On PostgreSQL the drop locks
    the table against readers until the commit (and is skipped when another writer holds the
    table), which is why it is kept for writes that are most of the table: a first load, a
    reload of its only partition, the first days of a backfill.
    """

    def __init__(self, wh: Warehouse, conn: Any, contract: Contract, keys: list[str]) -> None:
        self.wh, self.conn, self.contract, self.keys = wh, conn, contract, keys
        self.indexes = [(name, cols) for name, unique, cols in indexes(contract) if not unique]
        self.elsewhere: int | None = None
        self.decided = not self.indexes
        self.dropped = False

    def before_insert(self, rows_after: int) -> None:
        """Called before each slice is inserted, with the write's row count after it."""
        if self.decided or rows_after < DEFER_INDEXES_MIN_ROWS:
            return
        if self.elsewhere is None:
            self.elsewhere = self.wh._rows_elsewhere(self.conn, self.contract, self.keys)
        if rows_after >= 2 * self.elsewhere:
            self.decided = True
            self.dropped = self.wh._drop_indexes(self.conn, [name for name, _ in self.indexes])

    def build(self) -> None:
        if self.dropped:
            for name, columns in self.indexes:
                self.conn.execute(
                    f"CREATE INDEX {quote(name)} ON {quote(self.contract.name)} "
                    f"({', '.join(quote(c) for c in columns)})"
                )


def open_warehouse(url: str = DEFAULT_WAREHOUSE_URL, run_id: str | None = None) -> Warehouse:
    """The warehouse at `url`: `sqlite:///relative/or/abs.db` or `postgresql://...`."""
    scheme = urlsplit(url).scheme.split("+", 1)[0]
    if scheme == "sqlite":
        return SQLiteWarehouse(url, run_id)
    if scheme in ("postgresql", "postgres"):
        return PostgresWarehouse(url, run_id)
    raise ValueError(
        f"unsupported warehouse URL scheme {scheme!r}: use sqlite:/// or postgresql://"
    )
