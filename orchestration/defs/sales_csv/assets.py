"""Daily sales drops: the raw file, clean orders and rejects, the daily summary and the exports.

Every asset here is partitioned by day and backfills a range in one run: each day is read,
cleaned and written on its own (one transaction per day), so memory stays that of one day
however long the range.
"""

from collections import Counter
from collections.abc import Iterator
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from dagster import (
    AssetExecutionContext,
    AssetSpec,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)

from orchestration.contracts.datasets import SALES_DAILY, SALES_ORDERS, SALES_REJECTS
from orchestration.defs.automation import FOLLOW_UPSTREAM
from orchestration.defs.freshness import DAILY_PARTITION
from orchestration.defs.metadata import (
    PREVIEW_ROWS,
    definition_metadata,
    export_metadata,
    table_metadata,
)
from orchestration.defs.partitions import daily_partitions
from orchestration.defs.sales_csv.cleaning import CleanResult, DropCleaner
from orchestration.defs.warehouse_kind import WAREHOUSE_KIND
from orchestration.resources.sources import CsvLandingResource
from orchestration.resources.storage import LakeResource, WarehouseResource
from orchestration.storage.lake import Lake, hive_path
from orchestration.storage.warehouse import Warehouse

GROUP = "sales_csv"
SINGLE_RUN = BackfillPolicy.single_run()


def raw_sales_path(day: str) -> str:
    return hive_path("raw/sales", "order_date", day, f"sales_{day}.csv")


def clean_orders_path(day: str) -> str:
    return hive_path("clean/sales_orders", "order_date", day, "part-0.parquet")


@asset(
    group_name=GROUP,
    kinds={"csv"},
    partitions_def=daily_partitions,
    backfill_policy=SINGLE_RUN,
)
def raw_sales(
    context: AssetExecutionContext, landing: CsvLandingResource, lake: LakeResource
) -> MaterializeResult:
    """A day's sales drop (`<LANDING_DIR>/sales/sales_YYYY-MM-DD.csv`), copied byte for byte into
    the lake's raw zone (`raw/sales/order_date=<day>/`), so a re-clean never needs the landing
    area again. Fails, naming the days, when a drop is missing."""
    drops = landing.drops()
    days = context.partition_keys
    missing = [d for d in days if d not in drops]
    if missing:
        raise Failure(
            description=f"no sales drop for {len(missing)} day(s): {missing[:10]} "
            f"(expected {landing.location}/sales/sales_<day>.csv)"
        )
    fs, _ = landing.filesystem()
    store = lake.get()
    for day in days:
        store.copy_from(fs, drops[day].path, raw_sales_path(day))
    return MaterializeResult(
        metadata={
            "files": len(days),
            "bytes": sum(drops[d].size for d in days),
            "path": MetadataValue.path(store.uri(raw_sales_path(days[-1]))),
        }
    )


def _clean_day(day: str, store: Lake, wh: Warehouse) -> tuple[CleanResult, pa.Table]:
    """Clean one day block by block into the warehouse (one transaction for its orders and
    rejects) and the lake's clean zone; returns the counts and the first block of orders."""
    preview: list[pa.Table] = []
    with (
        store.open_input(raw_sales_path(day)) as source,
        store.atomic(clean_orders_path(day)) as out,
        wh.transaction() as conn,
    ):
        cleaner = DropCleaner(source, date.fromisoformat(day))
        schema = SALES_ORDERS.arrow_schema.remove(SALES_ORDERS.column_names.index("order_date"))
        with pq.ParquetWriter(out, schema) as parquet:

            def blocks() -> Iterator[pa.Table]:
                for orders in cleaner.orders():
                    parquet.write_table(orders.drop_columns(["order_date"]))
                    if not preview:
                        preview.append(orders.slice(0, PREVIEW_ROWS))
                    yield orders

            wh.replace_partitions(SALES_ORDERS, blocks(), [day], conn=conn)
        result = cleaner.result()
        wh.replace_partitions(SALES_REJECTS, result.rejects, [day], conn=conn)
    return result, preview[0] if preview else SALES_ORDERS.empty()


@multi_asset(
    specs=[
        AssetSpec(
            "sales_orders",
            deps=[raw_sales],
            group_name=GROUP,
            automation_condition=FOLLOW_UPSTREAM,
            kinds={"python", WAREHOUSE_KIND},
            description=(
                "Clean sales orders, one row per order_id, partitioned by order day. Rules, in "
                "order: duplicates by order_id keep the first; a missing quantity becomes 1; a "
                "missing, unparseable or impossible order_date rejects the row. Whitespace is "
                "trimmed and types enforced; every other row goes to `sales_rejects`."
            ),
            metadata=definition_metadata(SALES_ORDERS),
        ),
        AssetSpec(
            "sales_rejects",
            deps=[raw_sales],
            group_name=GROUP,
            automation_condition=FOLLOW_UPSTREAM,
            kinds={"python", WAREHOUSE_KIND},
            description=(
                "Rows of the day's drop that could not be cleaned: the line number, the reason "
                "and the row as received. Malformed lines are here too."
            ),
            metadata=definition_metadata(SALES_REJECTS),
        ),
    ],
    partitions_def=daily_partitions,
    backfill_policy=SINGLE_RUN,
    pool="warehouse",
)
def clean_sales_drops(
    context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
):
    """Cleans each day's raw drop and replaces that day's orders and rejects in one transaction."""
    store, wh = lake.get(), warehouse.get()
    totals: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    last_orders, last_rejects = SALES_ORDERS.empty(), SALES_REJECTS.empty()
    # One warehouse connection for the range, still one transaction per day.
    with wh.session():
        for day in context.partition_keys:
            result, last_orders = _clean_day(day, store, wh)
            totals.update(
                rows_read=result.rows_read,
                orders=result.orders_written,
                rejects=result.rejects.num_rows,
                duplicates=result.duplicates,
                quantity_filled=result.quantity_filled,
                blank_lines=result.blank_lines,
            )
            reasons.update(result.reasons)
            last_rejects = result.rejects
    # One log line per run, not per day: each line is an event-log write (~30 ms on SQLite).
    context.log.info(
        f"{len(context.partition_keys)} day(s): {totals['rows_read']} rows read, "
        f"{totals['orders']} orders, {totals['rejects']} rejected, "
        f"{totals['duplicates']} duplicates"
    )
    accounting: dict[str, Any] = {
        "rows_read": totals["rows_read"],
        "duplicates": totals["duplicates"],
        "quantity_filled": totals["quantity_filled"],
        "blank_lines": totals["blank_lines"],
        "reject_ratio": round(totals["rejects"] / totals["rows_read"], 4)
        if totals["rows_read"]
        else 0.0,
    }
    yield MaterializeResult(
        asset_key="sales_orders",
        metadata=table_metadata(SALES_ORDERS, last_orders, rows=totals["orders"]) | accounting,
    )
    yield MaterializeResult(
        asset_key="sales_rejects",
        metadata=table_metadata(SALES_REJECTS, last_rejects, rows=totals["rejects"])
        | {"reasons": MetadataValue.json(dict(reasons.most_common())), **accounting},
    )


@asset(
    group_name=GROUP,
    kinds={"sql", WAREHOUSE_KIND},
    partitions_def=daily_partitions,
    backfill_policy=SINGLE_RUN,
    deps=["sales_orders"],
    automation_condition=FOLLOW_UPSTREAM,
    pool="warehouse",
    metadata=definition_metadata(SALES_DAILY),
    freshness_policy=DAILY_PARTITION,
)
def sales_daily(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    """Orders, units and revenue (the sum of quantity * price) per day, computed in the
    warehouse; a day without orders has a row of zeros."""
    wh, days = warehouse.get(), context.partition_keys
    wh.ensure_table(SALES_ORDERS)
    rows = wh.query(
        "SELECT order_date, COUNT(*), SUM(quantity), SUM(quantity * price) FROM sales_orders "
        f"WHERE order_date IN {wh.in_list(days)} GROUP BY order_date",
        days,
    )
    by_day = {str(d): (n, units, revenue) for d, n, units, revenue in rows}
    summary = [
        {
            "day": date.fromisoformat(day),
            "orders": int(orders),
            "units": int(units),
            "revenue": round(float(revenue), 2),
        }
        for day in days
        for orders, units, revenue in [by_day.get(day, (0, 0, 0.0))]
    ]
    table = pa.Table.from_pylist(summary, schema=SALES_DAILY.arrow_schema)
    wh.replace_partitions(SALES_DAILY, table, days)
    return MaterializeResult(metadata=table_metadata(SALES_DAILY, table))


def _export_csv(store: Lake, day: str) -> tuple[int, pa.Table]:
    """Write a day's CSV export from its clean Parquet, one batch at a time (memory holds a
    batch, not the day); returns its rows and its first rows, for the preview."""
    day_value = pa.scalar(date.fromisoformat(day), pa.date32())
    rows, head = 0, SALES_ORDERS.empty()

    def with_day(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        nonlocal rows, head
        for batch in batches:
            batch = batch.append_column("order_date", pa.repeat(day_value, batch.num_rows))
            if not rows:
                head = pa.Table.from_batches([batch.slice(0, PREVIEW_ROWS)])
            rows += batch.num_rows
            yield batch

    store.write_csv_batches(
        hive_path("csv/sales_orders", "order_date", day, "part-0.csv"),
        with_day(store.iter_parquet(clean_orders_path(day))),
        empty=SALES_ORDERS.arrow_schema,
    )
    return rows, head


@asset(
    group_name=GROUP,
    kinds={"parquet", "csv"},
    partitions_def=daily_partitions,
    backfill_policy=SINGLE_RUN,
    deps=["sales_orders"],
    automation_condition=FOLLOW_UPSTREAM,
)
def sales_orders_export(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """A day's clean orders as Parquet and CSV in the lake, Hive-style:
    `parquet/sales_orders/order_date=<day>/part-0.parquet` (the partition column lives in the
    path, as Hive readers expect) and `csv/sales_orders/order_date=<day>/part-0.csv` (all
    columns). Published from the clean zone, which holds exactly the rows the warehouse
    committed for the day; each file is written under a temporary name and moved into place."""
    store = lake.get()
    files: dict[str, str] = {}
    rows = 0
    for day in context.partition_keys:
        clean = clean_orders_path(day)
        files[day] = store.copy_from(
            store.fs,
            store.full_path(clean),
            hive_path("parquet/sales_orders", "order_date", day, "part-0.parquet"),
        )
        n, table = _export_csv(store, day)
        rows += n
    return MaterializeResult(metadata=export_metadata(files, rows, table, listed=31))
