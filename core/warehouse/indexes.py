"""Secondary indexes built once at the end of a large write instead of row by row."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.contracts import Contract
from core.sql import indexes, quote

if TYPE_CHECKING:
    from core.warehouse.writes import Warehouse

# A write that brings at least twice the rows the rest of its table holds (by
# `partition_ledger`), and at least this many, builds the table's secondary indexes once at its
# end instead of updating them row by row. The sort costs a half to a third of an update per
# row, but over the whole table, so it pays when the write is most of the table (a first load).
DEFER_INDEXES_MIN_ROWS = 100_000


class DeferredIndexes:
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
