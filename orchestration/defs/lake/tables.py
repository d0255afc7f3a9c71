"""Which warehouse tables the lake publishes, and how each is laid out as a Delta table."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from core.contracts import Contract
from core.contracts.datasets import (
    LOG_LEVELS_HOURLY,
    LOGS,
    RECORDS,
    SALES_DAILY,
    SALES_ORDERS,
    SALES_REJECTS,
    USERS,
)
from core.datasets import DATASETS
from orchestration.storage.delta import DeltaLake, TableState, sql_literal

# The hourly tables are laid out by day: a path value every filesystem and Hadoop-based reader
# accepts (`date=2024-03-01`, where the hour key `2024-03-01-14:00` holds a `:`), and a day's
# hours can be compacted into one file.
DAY_OF_HOUR = "date"


@dataclass(frozen=True)
class LakeTable:
    """A warehouse table as the lake publishes it."""

    contract: Contract
    # The domain whose jobs publish it beside its warehouse table (its asset group); a
    # partitioned table is partitioned as that domain's tables are.
    group: str
    # The Delta partition column: the contract's partition column, or `date` for hourly tables;
    # None for a table replaced whole.
    partition_by: str | None = None
    # The order rows are written in (the primary key's when unset).
    order_by: tuple[str, ...] | None = None

    @property
    def name(self) -> str:
        return self.contract.name

    def rows(self, table: pa.Table) -> pa.Table:
        """The warehouse rows as the lake holds them: the contract's columns, and the day of an
        hourly table's hour."""
        if self.partition_by != DAY_OF_HOUR:
            return table
        hours = table.column(self.contract.partition_column or "")
        days = pc.cast(pc.utf8_slice_codeunits(hours, 0, 10), pa.date32())
        return table.append_column(pa.field(DAY_OF_HOUR, pa.date32(), nullable=False), days)

    def publish(self, tables: DeltaLake, data: pa.Table, partition: str) -> TableState:
        """Replace one warehouse partition's rows in the lake by `data`, in one commit: the
        Delta partition itself, or an hour inside its day's partition."""
        rows = self.rows(data)
        column = self.contract.partition_column or ""
        if self.partition_by == column:
            return tables.replace_partition(self.name, rows, column, partition)
        predicate = f"{column} = {sql_literal(partition)}"
        return tables.replace_where(self.name, rows, self.partition_by or "", predicate)


LAKE_TABLES = (
    LakeTable(USERS, "rest_api"),
    LakeTable(SALES_ORDERS, "sales_csv", "order_date"),
    LakeTable(SALES_REJECTS, "sales_csv", "partition_date"),
    LakeTable(SALES_DAILY, "sales_csv", "day"),
    LakeTable(RECORDS, "unified"),
    LakeTable(LOGS, "logs", DAY_OF_HOUR, ("timestamp", "landing_id")),
    LakeTable(LOG_LEVELS_HOURLY, "logs", DAY_OF_HOUR),
    # Every dataset declared in core/datasets/: replaced whole, or partitioned as its table.
    *(LakeTable(d.contract, d.group, d.contract.partition_column) for d in DATASETS),
)


def lake_table(name: str) -> LakeTable:
    """The lake's layout of the warehouse table `name`."""
    return next(t for t in LAKE_TABLES if t.name == name)
