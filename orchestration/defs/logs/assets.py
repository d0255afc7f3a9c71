"""Pushed log records, hour by hour: deduplicated into `logs`, exported to the lake, counted.

`POST /ingest/logs` and `POST /users` append to `landing_logs` and `landing_users` (the serving
API owns those writes; here they are external assets, for lineage). The landing sensor turns
new landing rows into runs of `logs_job` for the hours they touch. Each run rebuilds its hours
whole from landing, so a re-run, or a second run for an hour that got more rows, is harmless.
"""

from dagster import (
    AssetExecutionContext,
    AssetSpec,
    BackfillPolicy,
    MaterializeResult,
    asset,
)

from orchestration.contracts import Contract
from orchestration.contracts.datasets import LANDING_LOGS, LANDING_USERS, LOG_LEVELS_HOURLY, LOGS
from orchestration.defs.automation import FOLLOW_UPSTREAM
from orchestration.defs.metadata import definition_metadata, export_metadata, table_metadata
from orchestration.defs.partitions import hourly_partitions
from orchestration.defs.warehouse_kind import WAREHOUSE_KIND
from orchestration.resources.storage import LakeResource, WarehouseResource
from orchestration.storage.lake import hive_path
from orchestration.storage.warehouse import Warehouse, quote

GROUP = "logs"
SINGLE_RUN = BackfillPolicy.single_run()


def landing_spec(contract: Contract, endpoint: str) -> AssetSpec:
    return AssetSpec(
        contract.name,
        group_name="push",
        kinds={"fastapi", WAREHOUSE_KIND},
        description=f"{contract.description} Written by the serving API's `{endpoint}`, not by "
        "Dagster.",
        metadata=definition_metadata(contract),
    )


landing_logs = landing_spec(LANDING_LOGS, "POST /ingest/logs")
landing_users = landing_spec(LANDING_USERS, "POST /users")


def event_id_sql() -> str:
    """A landing row's event id: the client's, else `landing-<id>`."""
    return "COALESCE(event_id, 'landing-' || CAST(id AS TEXT))"


def logs_select(wh: Warehouse) -> str:
    """The first landing row of each event id within each hour of [start, end], as `logs` rows.

    A window function inside the warehouse: measured on 100k landing rows it beat GROUP BY +
    MIN(id) on both engines (SQLite 1.3 s vs 1.7 s, PostgreSQL 3.8 s vs 5.6 s) and reading
    through Arrow by far (19 s and 9.4 s); on PostgreSQL most of the time is index upkeep.
    """
    p = wh.placeholder
    carried = [c for c in LOGS.column_names if c not in ("event_id", "landing_id")]
    inner = ", ".join(
        f"{wh.sql_json(quote(c))} AS {quote(c)}" if c == "attributes" else quote(c) for c in carried
    )
    return (
        f"SELECT {', '.join(quote(c) for c in LOGS.column_names)} FROM ("
        f"SELECT {event_id_sql()} AS event_id, {inner}, id AS landing_id, "
        f"ROW_NUMBER() OVER (PARTITION BY hour, {event_id_sql()} ORDER BY id) AS first_seen "
        f"FROM landing_logs WHERE hour >= {p} AND hour <= {p}) landed WHERE first_seen = 1"
    )


def hour_bounds(context: AssetExecutionContext) -> list[str]:
    keys = context.partition_keys
    return [keys[0], keys[-1]]


@asset(
    group_name=GROUP,
    kinds={"sql", WAREHOUSE_KIND},
    deps=[landing_logs],
    partitions_def=hourly_partitions,
    backfill_policy=SINGLE_RUN,
    pool="warehouse",
    metadata=definition_metadata(LOGS),
)
def logs(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    """Pushed log records, one row per event id and hour: the client's `event_id`, or
    `landing-<id>` when it sent none; a repeated event id keeps its first landing row. Each
    hour is rebuilt from `landing_logs` inside the warehouse (INSERT ... SELECT), all the
    run's hours in one transaction; every hour gets its `partition_ledger` row."""
    wh, hours = warehouse.get(), context.partition_keys
    wh.ensure_table(LANDING_LOGS)
    bounds = hour_bounds(context)
    with wh.transaction() as conn:
        written = wh.replace_partitions_from_query(LOGS, hours, logs_select(wh), bounds, conn=conn)
        p = wh.placeholder
        landed = conn.execute(
            f"SELECT COUNT(*) FROM landing_logs WHERE hour >= {p} AND hour <= {p}", bounds
        ).fetchone()[0]
    rows = sum(written.values())
    context.log.info(
        f"{len(hours)} hour(s) {bounds[0]}...{bounds[1]}: {landed} landing row(s), "
        f"{rows} event(s), {landed - rows} repeated event id(s) dropped"
    )
    preview = wh.read(LOGS, [hours[-1]], order_by=["timestamp", "landing_id"], limit=5)
    return MaterializeResult(
        metadata=table_metadata(LOGS, preview, rows=rows)
        | {"landing_rows": landed, "repeated_event_ids": landed - rows}
    )


def export_paths(hour: str) -> tuple[str, str]:
    """The hour's Parquet (without the `hour` column, which the path holds) and CSV files."""
    return (
        hive_path("parquet/logs", "hour", hour, "part-0.parquet"),
        hive_path("csv/logs", "hour", hour, "part-0.csv"),
    )


@asset(
    group_name=GROUP,
    kinds={"parquet", "csv"},
    deps=[logs],
    partitions_def=hourly_partitions,
    backfill_policy=SINGLE_RUN,
    automation_condition=FOLLOW_UPSTREAM,
)
def logs_export(
    context: AssetExecutionContext, warehouse: WarehouseResource, lake: LakeResource
) -> MaterializeResult:
    """An hour of logs as Parquet and CSV in the lake, Hive-style, in event-time order:
    `parquet/logs/hour=<key>/part-0.parquet` (the partition column lives in the path) and
    `csv/logs/hour=<key>/part-0.csv` (all columns). Each file is written under a temporary
    name and moved into place; an hour without records gets empty files."""
    wh, store = warehouse.get(), lake.get()
    files: dict[str, str] = {}
    rows = 0
    for hour in context.partition_keys:
        table = wh.read(LOGS, [hour], order_by=["timestamp", "landing_id"])
        parquet, csv = export_paths(hour)
        files[hour] = store.write_parquet(parquet, table.drop_columns(["hour"]))
        store.write_csv(csv, table)
        rows += table.num_rows
    return MaterializeResult(metadata=export_metadata(files, rows, table, listed=24))


@asset(
    group_name=GROUP,
    kinds={"sql", WAREHOUSE_KIND},
    deps=[logs],
    partitions_def=hourly_partitions,
    backfill_policy=SINGLE_RUN,
    automation_condition=FOLLOW_UPSTREAM,
    pool="warehouse",
    metadata=definition_metadata(LOG_LEVELS_HOURLY),
)
def log_levels_hourly(
    context: AssetExecutionContext, warehouse: WarehouseResource
) -> MaterializeResult:
    """Log records per hour, service and severity, counted inside the warehouse from `logs`
    (INSERT ... SELECT ... GROUP BY); an hour without records has no rows."""
    wh, hours = warehouse.get(), context.partition_keys
    wh.ensure_table(LOGS)
    p = wh.placeholder
    written = wh.replace_partitions_from_query(
        LOG_LEVELS_HOURLY,
        hours,
        "SELECT hour, service, severity, COUNT(*) FROM logs "
        f"WHERE hour >= {p} AND hour <= {p} GROUP BY hour, service, severity",
        hour_bounds(context),
    )
    preview = wh.read(LOG_LEVELS_HOURLY, [hours[-1]], limit=10)
    return MaterializeResult(
        metadata=table_metadata(LOG_LEVELS_HOURLY, preview, rows=sum(written.values()))
    )
