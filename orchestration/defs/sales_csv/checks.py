"""Checks on the sales partitions: keys, nulls, value ranges, reject ratio, row counts, drift,
freshness. The blocking ones stop a bad day before its summary and exports in the same run."""

from datetime import UTC, datetime

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    asset_check,
)

from orchestration.contracts.datasets import SALES_ORDERS
from orchestration.defs.partitions import daily_partitions
from orchestration.defs.quality import (
    key_unique_check,
    not_null_check,
    partition_filter,
    row_count_anomaly_check,
)
from orchestration.defs.sales_csv.assets import raw_sales_path
from orchestration.defs.sales_csv.cleaning import SOURCE_COLUMNS
from orchestration.resources.quality import QualityThresholds
from orchestration.resources.storage import LakeResource, WarehouseResource

EARLIEST_PLAUSIBLE_DAY = "2000-01-01"

orders_key_unique = key_unique_check(SALES_ORDERS, daily_partitions)
orders_not_null = not_null_check(SALES_ORDERS, daily_partitions)
orders_row_count = row_count_anomaly_check(SALES_ORDERS, daily_partitions)


@asset_check(
    asset="sales_orders",
    name="value_ranges",
    description="quantity > 0, price >= 0, and an order_date between 2000-01-01 and today.",
    partitions_def=daily_partitions,
    blocking=True,
)
def orders_value_ranges(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    wh = warehouse.get()
    where, params = partition_filter(wh, SALES_ORDERS, context.partition_keys)
    p = wh.placeholder
    today = datetime.now(UTC).date().isoformat()
    bad_qty, bad_price, bad_date = wh.query(
        "SELECT SUM(CASE WHEN quantity <= 0 THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN price < 0 THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN order_date < {p} OR order_date > {p} THEN 1 ELSE 0 END) "
        f"FROM sales_orders WHERE {where}",
        [EARLIEST_PLAUSIBLE_DAY, today, *params],
    )[0]
    counts = {
        "non_positive_quantity": int(bad_qty or 0),
        "negative_price": int(bad_price or 0),
        "implausible_order_date": int(bad_date or 0),
    }
    return AssetCheckResult(passed=not any(counts.values()), metadata=counts)


@asset_check(
    asset="sales_orders",
    name="reject_ratio",
    description="Rejected rows over rows cleaned, per day: a warning above 5%, a failure above "
    "20% (resource `quality`).",
    partitions_def=daily_partitions,
    additional_deps=["sales_rejects"],
    blocking=True,
)
def orders_reject_ratio(
    context: AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    quality: QualityThresholds,
) -> AssetCheckResult:
    wh = warehouse.get()
    keys = context.partition_keys
    counts = {k: [0, 0] for k in keys}
    for index, (table, column) in enumerate(
        [("sales_orders", "order_date"), ("sales_rejects", "partition_date")]
    ):
        for day, n in wh.query(
            f"SELECT {column}, COUNT(*) FROM {table} WHERE {column} IN {wh.in_list(keys)} "
            f"GROUP BY {column}",
            keys,
        ):
            counts[str(day)][index] = n
    ratios = {k: round(r / (o + r), 4) if o + r else 0.0 for k, (o, r) in counts.items()}
    worst = max(ratios.values(), default=0.0)
    severity = (
        AssetCheckSeverity.ERROR if worst > quality.reject_ratio_fail else AssetCheckSeverity.WARN
    )
    return AssetCheckResult(
        passed=worst <= quality.reject_ratio_warn,
        severity=severity,
        metadata={
            "worst_ratio": worst,
            "ratios": ratios,
            "warn_above": quality.reject_ratio_warn,
            "fail_above": quality.reject_ratio_fail,
        },
    )


@asset_check(
    asset="raw_sales",
    name="schema_drift",
    description="The drop's header is exactly order_id, customer_id, product, quantity, price, "
    "order_date; lists added and missing columns.",
    partitions_def=daily_partitions,
    blocking=True,
)
def raw_sales_drift(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    store = lake.get()
    drift = {}
    for day in context.partition_keys:
        with store.open_input(raw_sales_path(day)) as source:
            header = source.read(64 * 1024).split(b"\n", 1)[0].decode("utf-8", "replace")
        columns = [c.strip().strip('"') for c in header.strip().split(",")]
        added = [c for c in columns if c not in SOURCE_COLUMNS]
        missing = [c for c in SOURCE_COLUMNS if c not in columns]
        if added or missing:
            drift[day] = {"added": added, "missing": missing}
    return AssetCheckResult(passed=not drift, metadata={"drift": drift})
