"""Reads: a contract's rows as Arrow, and the counts and bounds the pipeline asks for."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from core.contracts import Contract
from core.sql import key_slices, primary_key, quote
from core.statements import bind, where_equal
from core.warehouse.ledger import Ledger


class Reads(Ledger):
    """Reads of the warehouse's tables."""

    @abstractmethod
    def _read_arrow(self, conn: Any, contract: Contract, sql: str, params: list[Any]) -> pa.Table:
        """The rows of `sql` (the contract's columns, in order, with positional parameters)."""

    def _select_arrow(
        self, conn: Any, contract: Contract, sql: str, params: Mapping[str, Any] | None
    ) -> pa.Table:
        return self._read_arrow(conn, contract, *bind(self.dialect, sql, params))

    def read(
        self,
        contract: Contract,
        partitions: Sequence[str] | None = None,
        order_by: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> pa.Table:
        """Read a contract's table (or some of its partitions) as an Arrow table."""
        sql = f"SELECT {self.dialect.select_list(contract)} FROM {quote(contract.name)}"
        params: dict[str, Any] = {}
        if partitions is not None:
            if not contract.partition_column:
                raise ValueError(f"{contract.name} is not partitioned")
            if not partitions:
                return contract.empty()
            params = {"partitions": [str(p) for p in partitions]}
            sql += f" WHERE {quote(contract.partition_column)} IN :partitions"
        sql += " ORDER BY " + ", ".join(quote(c) for c in (order_by or primary_key(contract)))
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self.transaction() as conn:
            self._ensure(conn, contract)
            return self._select_arrow(conn, contract, sql, params)

    def select(
        self,
        conn: Any,
        contract: Contract,
        where: str,
        params: Mapping[str, Any] | None = None,
        limit: int | None = None,
    ) -> pa.Table:
        """The contract's rows matching `where` (named binds from `params`), in key order, read
        on `conn`: inside a write's transaction it sees the rows the write has not committed."""
        sql = (
            f"SELECT {self.dialect.select_list(contract)} FROM {quote(contract.name)} "
            f"WHERE {where} ORDER BY {', '.join(quote(c) for c in primary_key(contract))}"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._select_arrow(conn, contract, sql, params)

    def count(self, contract: Contract, partitions: Sequence[str] | None = None) -> int:
        """The rows of a contract's table, or of some of its partitions."""
        where: dict[str, Any] = {}
        if partitions is not None and contract.partition_column:
            if not partitions:
                return 0
            where = {contract.partition_column: [str(p) for p in partitions]}
        condition, params = where_equal(where)
        [(rows,)] = self.query(
            f"SELECT COUNT(*) FROM {quote(contract.name)} WHERE {condition}", params
        )
        return int(rows)

    def count_by(
        self, table: str, column: str, keys: Sequence[str], conn: Any | None = None
    ) -> dict[str, int]:
        """The rows of `table` per value of `column`, for each of `keys` (zero if none)."""
        counts = dict.fromkeys((str(k) for k in keys), 0)
        col = quote(column)
        with self._use(conn) as c:
            for chunk in key_slices(list(counts)):
                for key, n in self.execute(
                    c,
                    f"SELECT {col}, COUNT(*) FROM {quote(table)} WHERE {col} IN :keys "
                    f"GROUP BY {col}",
                    {"keys": chunk},
                ).fetchall():
                    counts[str(key)] = int(n)
        return counts

    def max_value(self, table: str, column: str, above: Any = None) -> Any:
        """The largest value of `column` in `table` (above `above`, if given); None if none."""
        sql = f"SELECT MAX({quote(column)}) FROM {quote(table)}"
        if above is not None:
            return self.query(f"{sql} WHERE {quote(column)} > :above", {"above": above})[0][0]
        return self.query(sql)[0][0]

    def has_rows_outside(self, conn: Any, contract: Contract, partition: str) -> bool:
        """Whether the table holds rows of any partition but `partition`: two seeks on the
        primary key, which the partition column leads."""
        column, table = quote(contract.partition_column or ""), quote(contract.name)
        return bool(
            self.execute(
                conn,
                f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {column} < :partition) "
                f"OR EXISTS (SELECT 1 FROM {table} WHERE {column} > :partition)",
                {"partition": partition},
            ).fetchone()[0]
        )
