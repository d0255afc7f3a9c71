"""Writes: partitions replaced atomically, upserts by key, derived tables rebuilt in the database.

Every write runs in one transaction: a partition's old rows are deleted and the new ones
inserted together, so a failed or killed write leaves the previous rows in place and a re-run
replaces exactly the same rows. Each write notes what it published in `partition_ledger`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from core.contracts import Contract, ContractError
from core.sql import key_slices, primary_key, quote
from core.statements import where_equal
from core.warehouse.indexes import DeferredIndexes
from core.warehouse.reads import Reads

# Bulk loads go in slices, so neither the COPY text nor SQLite's Python rows ever hold a whole
# partition at once (16,384 rows are ~7 MB as Python objects).
BULK_BATCH_ROWS = 16_384
# A write of at least this many rows refreshes the table's planner statistics (on engines that
# plan by them), so the audits that follow are planned on what the table now holds.
BULK_ROWS = 10_000


class Warehouse(Reads):
    """A warehouse database reached by URL; see `open_warehouse`. One code path for both
    engines; the engine modules add connections, locks and each one's bulk path."""

    @abstractmethod
    def _lock(self, conn: Any, table: str, names: Sequence[str]) -> None:
        """Hold the write of these partitions (or slices) of `table` until the transaction ends,
        so that two runs rebuilding the same partition queue instead of colliding on its key."""

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

    def _delete_partitions(self, conn: Any, table: str, column: str, keys: list[str]) -> None:
        self._lock(conn, table, keys)
        for chunk in key_slices(keys):
            self.delete_rows(table, {column: chunk}, conn=conn)

    def delete_rows(self, table: str, where: Mapping[str, Any], conn: Any | None = None) -> int:
        """Delete the rows of `table` whose columns equal `where`'s values (a list: any of
        them). Returns the rows deleted."""
        condition, params = where_equal(where)
        with self._use(conn) as c:
            return self.execute(c, f"DELETE FROM {quote(table)} WHERE {condition}", params).rowcount

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
            deferred = DeferredIndexes(self, c, contract, keys)
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
            refresh = self.dialect.refresh_statistics(contract.name)
            if refresh and sum(rows.values()) >= BULK_ROWS:
                c.execute(refresh)
            self._record(c, contract, rows)
        return sum(rows.values())

    def upsert(self, contract: Contract, data: pa.Table, conn: Any | None = None) -> int:
        """Insert `data`, updating rows whose key already exists. Returns rows written."""
        data = contract.conform(data)
        staging = f"_staging_{contract.name}"
        cols = ", ".join(quote(c) for c in contract.column_names)
        merge = self.dialect.upsert(
            contract.name,
            contract.column_names,
            primary_key(contract),
            f"SELECT {cols} FROM {quote(staging)}",
        )
        with self._use(conn) as c:
            self._ensure(c, contract)
            c.execute(f"DROP TABLE IF EXISTS {quote(staging)}")
            c.execute(self.dialect.temp_table_like(staging, contract.name))
            if data.num_rows:
                self._bulk_insert(c, staging, data)
            c.execute(merge)
            c.execute(f"DROP TABLE {quote(staging)}")
            self._record(c, contract, {"": data.num_rows})
        return data.num_rows

    def replace_from_query(
        self,
        contract: Contract,
        select_sql: str,
        params: Mapping[str, Any] | None = None,
        *,
        where: Mapping[str, Any],
        slice_name: str,
        conn: Any | None = None,
    ) -> int:
        """Delete the rows whose columns equal `where`'s values (`{}`: every row), then insert
        the result of `select_sql` (named binds from `params`), atomically.

        `select_sql` yields the contract's columns in order; it runs inside the database, so
        derived tables never travel through Python. `slice_name` names the replaced rows in
        `partition_ledger` (e.g. `source=users`). Returns the number of rows inserted.
        """
        cols = ", ".join(quote(c) for c in contract.column_names)
        with self._use(conn) as c:
            self._ensure(c, contract)
            self._lock(c, contract.name, [slice_name])
            self.delete_rows(contract.name, where, conn=c)
            insert = f"INSERT INTO {quote(contract.name)} ({cols}) {select_sql}"
            cur = self.execute(c, insert, params)
            self._record(c, contract, {slice_name: cur.rowcount})
            return cur.rowcount

    def replace_partitions_from_query(
        self,
        contract: Contract,
        partitions: Sequence[str],
        select_sql: str,
        params: Mapping[str, Any] | None = None,
        conn: Any | None = None,
    ) -> dict[str, int]:
        """Replace the rows of `partitions` with the result of `select_sql`, atomically.

        `replace_partitions` for a derived table that never travels through Python: the query
        (named binds from `params`) runs inside the database and yields the contract's columns
        in order, only rows of `partitions` (else `ContractError`, and nothing changes). Each
        partition gets its own `partition_ledger` row, zero for an empty one. Returns the rows
        written per partition.
        """
        part, keys = self._partition_keys(contract, partitions)
        cols = ", ".join(quote(c) for c in contract.column_names)
        with self._use(conn) as c:
            self._ensure(c, contract)
            self._delete_partitions(c, contract.name, part, keys)
            inserted = self.execute(
                c, f"INSERT INTO {quote(contract.name)} ({cols}) {select_sql}", params
            )
            rows = self.count_by(contract.name, part, keys, conn=c)
            if sum(rows.values()) != inserted.rowcount:
                raise ContractError(
                    f"{contract.name}: the query wrote {inserted.rowcount} row(s), "
                    f"{sum(rows.values())} of them in the partitions replaced {keys[:5]}"
                )
            self._record(c, contract, rows)
        return rows
