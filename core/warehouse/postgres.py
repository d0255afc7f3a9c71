"""The production warehouse: PostgreSQL through psycopg 3, bulk loads and reads through COPY."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv

from core.contracts import Contract
from core.sql import POSTGRES, fts_table, indexes, quote
from core.warehouse.writes import BULK_BATCH_ROWS, Warehouse

# How long a large write waits for the table's lock to drop its indexes.
DROP_INDEX_LOCK_TIMEOUT = "500ms"


class PostgresWarehouse(Warehouse):
    """The production warehouse: PostgreSQL through psycopg 3, bulk loads through COPY."""

    dialect = POSTGRES

    def __init__(self, url: str, run_id: str | None = None) -> None:
        super().__init__(url, run_id)
        # Accept SQLAlchemy-style schemes (postgresql+psycopg://) as well as libpq's.
        scheme, rest = url.split("://", 1)
        self.dsn = "postgresql://" + rest if scheme.startswith("postgres") else url

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

    def _existing_columns(self, conn: psycopg.Connection, table_name: str) -> list[str]:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
            [table_name],
        ).fetchall()
        return [r[0] for r in rows]

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

    def _read_arrow(
        self, conn: psycopg.Connection, contract: Contract, sql: str, params: list[Any]
    ) -> pa.Table:
        buf = io.BytesIO()
        # Parameters always given, even none: the statement's `%` are doubled for binding.
        with conn.cursor().copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
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
