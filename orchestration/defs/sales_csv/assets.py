"""Daily sales drops: the raw file, clean orders and rejects, the daily summary and the exports.

Every asset here is partitioned by day and backfills a range in one run: each day is read,
cleaned, audited and published on its own (one transaction per day), so memory stays that of
one day however long the range, and one bad or missing day does not hold back the others.
"""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import (
    AssetExecutionContext,
    AssetMaterialization,
    AssetSpec,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)

from core.contracts.datasets import SALES_DAILY, SALES_ORDERS, SALES_REJECTS
from core.warehouse import Warehouse
from orchestration.defs.audits import (
    Audit,
    Scope,
    Verdict,
    VersionRejected,
    audit_version,
    check_evaluations,
    quarantine,
)
from orchestration.defs.automation import FOLLOW_UPSTREAM
from orchestration.defs.freshness import DAILY_PARTITION
from orchestration.defs.lake.assets import lake_key
from orchestration.defs.lake.exports import export_csv
from orchestration.defs.lake.tables import lake_table
from orchestration.defs.metadata import (
    PREVIEW_ROWS,
    definition_metadata,
    export_metadata,
    table_metadata,
)
from orchestration.defs.raw_zone import csv_header, header_drift
from orchestration.defs.sales_csv.checks import (
    ORDERS_KEY_UNIQUE,
    ORDERS_NOT_NULL,
    ORDERS_VALUE_RANGES,
    reject_ratio,
    row_count_anomaly,
)
from orchestration.defs.sales_csv.cleaning import SOURCE_COLUMNS, CleanResult, DropCleaner
from orchestration.resources.quality import QualityThresholds
from orchestration.resources.sources import CsvLandingResource, Drop
from orchestration.resources.storage import LakeResource, WarehouseResource
from orchestration.storage.lake import Lake, hive_path

GROUP = "sales_csv"
SINGLE_RUN = BackfillPolicy.single_run()


def raw_sales_path(day: str) -> str:
    return hive_path("raw/sales", "order_date", day, f"sales_{day}.csv")


def clean_orders_path(day: str) -> str:
    return hive_path("clean/sales_orders", "order_date", day, "part-0.parquet")


def _drift(store: Lake, day: str) -> Verdict:
    """The raw drop's header against the columns the cleaning expects."""
    drift = header_drift(SOURCE_COLUMNS, csv_header(store, raw_sales_path(day)))
    added, missing = drift["added"], drift["missing"]
    drifted = bool(added or missing)
    return Verdict(
        "schema_drift",
        not drifted,
        drift,
        description=f"added {added}, missing {missing}" if drifted else None,
    )


@dataclass
class Landing:
    """What happened to one day of a run: copied raw, and published or not (and why)."""

    day: str
    copied: bool = False
    drift: Verdict | None = None
    verdicts: list[Verdict] = field(default_factory=list)
    result: CleanResult | None = None
    preview: pa.Table | None = None

    @property
    def published(self) -> bool:
        return self.result is not None

    def reason(self) -> str:
        if not self.copied:
            return "no sales drop"
        failed = [v for v in [self.drift, *self.verdicts] if v is not None and v.blocks]
        return "; ".join(v.summary() for v in failed)


def _audits(quality: QualityThresholds) -> list[Audit]:
    return [
        ORDERS_KEY_UNIQUE,
        ORDERS_NOT_NULL,
        ORDERS_VALUE_RANGES,
        reject_ratio(quality),
        row_count_anomaly(quality),
    ]


def _clean_day(
    day: str, store: Lake, wh: Warehouse, audits: list[Audit]
) -> tuple[CleanResult, pa.Table, list[Verdict]]:
    """Clean one day block by block into the warehouse (one transaction for its orders and
    rejects) and the lake's clean zone, audit the new version inside that transaction, and
    commit it only if it passes (else `VersionRejected`, and nothing changes)."""
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
        facts = {
            "orders": result.orders_written,
            "rejects": result.rejects,
            "rows_read": result.rows_read,
        }
        verdicts = audit_version(Scope(wh, conn, SALES_ORDERS, day, facts), audits)
    return result, preview[0] if preview else SALES_ORDERS.empty(), verdicts


def _land_day(
    day: str, drops: dict[str, Drop], fs: Any, store: Lake, wh: Warehouse, audits: list[Audit]
) -> Landing:
    landing = Landing(day)
    if day not in drops:
        return landing
    store.copy_from(fs, drops[day].path, raw_sales_path(day))
    landing.copied = True
    landing.drift = _drift(store, day)
    if landing.drift.blocks:
        return landing
    try:
        landing.result, landing.preview, landing.verdicts = _clean_day(day, store, wh, audits)
    except VersionRejected as rejected:
        landing.verdicts = rejected.verdicts
        quarantine(wh, SALES_ORDERS, rejected)
    return landing


def _accounting(results: list[CleanResult]) -> dict[str, Any]:
    """The counts that account for every line read, and the reasons of the rejects."""
    rows_read = sum(r.rows_read for r in results)
    rejects = sum(r.rejects.num_rows for r in results)
    return {
        "rows_read": rows_read,
        "duplicates": sum(r.duplicates for r in results),
        "quantity_filled": sum(r.quantity_filled for r in results),
        "blank_lines": sum(r.blank_lines for r in results),
        "reject_ratio": round(rejects / rows_read, 4) if rows_read else 0.0,
    }


def _metadata(results: list[CleanResult], orders_preview: pa.Table) -> dict[str, dict[str, Any]]:
    """Metadata of the three assets for the days of `results`."""
    accounting = _accounting(results)
    reasons: Counter[str] = Counter()
    for r in results:
        reasons.update(r.reasons)
    rejects = results[-1].rejects if results else SALES_REJECTS.empty()
    return {
        "raw_sales": {"files": len(results), "rows_read": accounting["rows_read"]},
        "sales_orders": table_metadata(
            SALES_ORDERS, orders_preview, rows=sum(r.orders_written for r in results)
        )
        | accounting,
        "sales_rejects": table_metadata(
            SALES_REJECTS, rejects, rows=sum(r.rejects.num_rows for r in results)
        )
        | {"reasons": MetadataValue.json(dict(reasons.most_common())), **accounting},
    }


def _failure(landings: list[Landing], location: str) -> Failure:
    """The run's failure: the missing days, and each day that failed its blocking checks."""
    missing = [x.day for x in landings if not x.copied]
    rejected = [x for x in landings if x.copied and not x.published]
    lines = []
    if missing:
        lines.append(
            f"no sales drop for {len(missing)} day(s): {missing[:10]} "
            f"(expected {location}/sales/sales_<day>.csv)"
        )
    lines += [f"{x.day} not published, failed: {x.reason()}" for x in rejected[:10]]
    published = sum(x.published for x in landings)
    lines.append(f"{published} of {len(landings)} day(s) published")
    return Failure(
        description="\n".join(lines),
        metadata={
            "missing_days": missing,
            "rejected_days": {x.day: x.reason() for x in rejected},
            "published_days": published,
        },
    )


def land_sales_drops(
    context: AssetExecutionContext,
    landing: CsvLandingResource,
    lake: LakeResource,
    warehouse: WarehouseResource,
    quality: QualityThresholds,
):
    """Each day of the run: copy the drop to the raw zone, clean it into a new version of the
    day's orders and rejects, run the blocking checks on that version, and publish it in one
    transaction only if they pass. Days without a drop, or whose checks fail, are named in the
    run's failure; the other days are published and shown materialized."""
    store, wh = lake.get(), warehouse.get()
    drops, (fs, _) = landing.drops(), landing.filesystem()
    audits = _audits(quality)
    # One warehouse connection for the range, still one transaction per day.
    with wh.session():
        landings = [_land_day(day, drops, fs, store, wh, audits) for day in context.partition_keys]
    published = [x for x in landings if x.published]
    context.log.info(
        f"{len(published)} of {len(landings)} day(s) published: "
        f"{sum(x.result.rows_read for x in landings if x.result)} rows read, "
        f"{sum(x.result.rows_read for x in published if x.result)} of them published"
    )
    # Each day's materialization carries that day's own counts and preview, in a range run too.
    day_metadata = {
        x.day: _metadata([x.result], x.preview if x.preview is not None else SALES_ORDERS.empty())
        for x in published
        if x.result is not None
    }
    if len(published) == len(landings):
        for asset in ("raw_sales", "sales_orders", "sales_rejects"):
            for day, metadata in day_metadata.items():
                context.add_asset_metadata(metadata[asset], asset_key=asset, partition_key=day)
            yield MaterializeResult(asset_key=asset)
    else:
        for x in landings:
            if x.copied:
                yield AssetMaterialization(
                    "raw_sales",
                    partition=x.day,
                    metadata=day_metadata.get(x.day, {}).get("raw_sales", {}),
                )
            for asset in ("sales_orders", "sales_rejects"):
                if x.day in day_metadata:
                    yield AssetMaterialization(
                        asset, partition=x.day, metadata=day_metadata[x.day][asset]
                    )
    yield from check_evaluations(
        context, "raw_sales", {x.day: [x.drift] for x in landings if x.drift is not None}
    )
    yield from check_evaluations(
        context, "sales_orders", {x.day: x.verdicts for x in landings if x.verdicts}
    )
    if len(published) < len(landings):
        raise _failure(landings, landing.location)


def sales_daily(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    """Orders, units and revenue (the sum of quantity * price) per day, computed in the
    warehouse; a day without orders has a row of zeros."""
    wh, days = warehouse.get(), context.partition_keys
    wh.ensure_table(SALES_ORDERS)
    rows = wh.query(
        "SELECT order_date, COUNT(*), SUM(quantity), SUM(quantity * price) FROM sales_orders "
        "WHERE order_date IN :days GROUP BY order_date",
        {"days": days},
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
    for i, day in enumerate(days):
        context.add_asset_metadata(
            table_metadata(SALES_DAILY, table.slice(i, 1)), partition_key=day
        )
    return MaterializeResult()


def sales_orders_export(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """A day's orders as CSV in the lake, Hive-style (`csv/sales_orders/order_date=<day>/
    part-0.csv`, all columns), written from the day's published version in the lake's
    `sales_orders` Delta table, under a temporary name and moved into place."""
    store, tables = lake.get(), lake.tables()
    for day in context.partition_keys:
        relpath = hive_path("csv/sales_orders", "order_date", day, "part-0.csv")
        n, head = export_csv(store, tables, lake_table("sales_orders"), day, relpath)
        context.add_asset_metadata(
            export_metadata({day: store.uri(relpath)}, n, head, listed=1), partition_key=day
        )
    return MaterializeResult()


def sales_assets(days: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """The day's assets over the daily partitions `days`: the drop landed into orders and
    rejects (with their blocking checks), the daily summary and the CSV export."""
    raw_sales = AssetSpec(
        "raw_sales",
        group_name=GROUP,
        kinds={"csv"},
        description=(
            "A day's sales drop (`<LANDING_DIR>/sales/sales_YYYY-MM-DD.csv`), copied byte "
            "for byte into the lake's raw zone (`raw/sales/order_date=<day>/`), so a "
            "re-clean never needs the landing area again."
        ),
    )
    sales_orders = AssetSpec(
        "sales_orders",
        deps=["raw_sales"],
        group_name=GROUP,
        kinds={"python"},
        description=(
            "Clean sales orders, one row per order_id, partitioned by order day. Rules, in "
            "order: duplicates by order_id keep the first; a missing quantity becomes 1; a "
            "missing, unparseable or impossible order_date rejects the row. Whitespace is "
            "trimmed and types enforced; every other row goes to `sales_rejects`. A day is "
            "published only if its blocking checks pass on the new version; else the "
            "published rows stay and the offending ones go to `quarantine`."
        ),
        metadata=definition_metadata(SALES_ORDERS),
    )
    sales_rejects = AssetSpec(
        "sales_rejects",
        deps=["raw_sales"],
        group_name=GROUP,
        kinds={"python"},
        description=(
            "Rows of the day's drop that could not be cleaned: the line number, the reason "
            "and the row as received. Malformed lines are here too. Published with the "
            "day's orders."
        ),
        metadata=definition_metadata(SALES_REJECTS),
    )
    schema_drift = dg.AssetCheckSpec(
        "schema_drift",
        asset="raw_sales",
        description="The drop's header is exactly order_id, customer_id, product, quantity, "
        "price, order_date; lists added and missing columns.",
        blocking=True,
        partitions_def=days,
    )
    land = multi_asset(
        specs=[raw_sales, sales_orders, sales_rejects],
        check_specs=[
            schema_drift,
            *(audit.spec("sales_orders", days) for audit in _audits(QualityThresholds())),
        ],
        partitions_def=days,
        backfill_policy=SINGLE_RUN,
        pool="warehouse",
    )(land_sales_drops)
    summary = asset(
        group_name=GROUP,
        kinds={"sql"},
        partitions_def=days,
        backfill_policy=SINGLE_RUN,
        deps=["sales_orders"],
        automation_condition=FOLLOW_UPSTREAM,
        pool="warehouse",
        metadata=definition_metadata(SALES_DAILY),
        freshness_policy=DAILY_PARTITION,
    )(sales_daily)
    export = asset(
        group_name=GROUP,
        kinds={"csv"},
        partitions_def=days,
        backfill_policy=SINGLE_RUN,
        deps=[lake_key("sales_orders")],
        automation_condition=FOLLOW_UPSTREAM,
    )(sales_orders_export)
    return [land, summary, export]
