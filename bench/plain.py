"""What the plain-script baselines of `bench/pipeline.py` and `bench/backfill.py` do alike, with
no Dagster: the sales tables' DDL from the contracts, a SQLite connection set up for bulk loads,
a day's rows out of Arrow for `executemany`, its summary row and its Parquet and CSV exports."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import export_relpath

# The day's rows each load replaces first.
DAY_TABLES = (("sales_orders", "order_date"), ("sales_rejects", "partition_date"))


def sales_ddl(url: str) -> list[str]:
    """The three sales tables' DDL as the warehouse at `url` creates them, so every variant
    loads the same tables with the same keys and indexes."""
    from core.contracts.datasets import SALES_DAILY, SALES_ORDERS, SALES_REJECTS
    from core.warehouse import open_warehouse

    dialect = open_warehouse(url).dialect
    return [
        s for c in (SALES_ORDERS, SALES_REJECTS, SALES_DAILY) for s in dialect.create_statements(c)
    ]


def bulk_sqlite(url: str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, a large page cache."""
    conn = sqlite3.connect(url.split(":///", 1)[1], isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-262144")
    return conn


def arrow_rows(table: Any) -> Iterator[tuple[Any, ...]]:
    """An Arrow table's rows as tuples, dates as ISO text (as SQLite stores them)."""
    import pyarrow as pa

    cols = [
        (c.cast(pa.string()) if pa.types.is_date(c.type) else c).to_pylist() for c in table.columns
    ]
    return zip(*cols, strict=True)


def daily_row(day: str, orders: Any) -> tuple[str, int, int, float]:
    """`sales_daily`'s row of a day: orders, units, revenue."""
    import pyarrow.compute as pc

    return (
        day,
        orders.num_rows,
        pc.sum(orders["quantity"]).as_py() or 0,
        round(pc.sum(pc.multiply(orders["quantity"], orders["price"])).as_py() or 0, 2),
    )


def write_exports(lake: Path, day: str, orders: Any) -> None:
    """A day's Parquet (without the partition column) and CSV exports, where the pipeline's go."""
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    out = lake / export_relpath(day, "parquet")
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(orders.drop_columns(["order_date"]), out)
    out = lake / export_relpath(day, "csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    pa_csv.write_csv(orders, out)
