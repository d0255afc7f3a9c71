"""Pushed log records, hour by hour: deduplicated into `logs`, exported to the lake, counted.

`POST /ingest/logs` and `POST /users` append to `landing_logs` and `landing_users` (the serving
API owns those writes; here they are external assets, for lineage). The landing sensor turns
new landing rows into runs of `logs_job` for the hours they touch. Each run rebuilds its hours
whole from landing, so a re-run, or a second run for an hour that got more rows, is harmless.
"""

from collections.abc import Sequence
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    MaterializeResult,
    PartitionsDefinition,
    asset,
)

from core.contracts import Contract
from core.contracts.datasets import (
    LANDING_LOGS,
    LANDING_USERS,
    LOG_LEVELS_HOURLY,
    LOG_SEVERITIES,
    LOGS,
)
from core.sql import Dialect, quote
from orchestration.defs.audits import (
    Outcome,
    allowed_values,
    key_unique,
    not_null,
    publication,
    publish_partitions,
)
from orchestration.defs.automation import FOLLOW_UPSTREAM
from orchestration.defs.lake.assets import lake_key
from orchestration.defs.lake.exports import export_csv, path_hour
from orchestration.defs.lake.tables import lake_table
from orchestration.defs.metadata import definition_metadata, export_metadata, table_metadata
from orchestration.resources.storage import LakeResource, WarehouseResource
from orchestration.storage.lake import hive_path

GROUP = "logs"
SINGLE_RUN = BackfillPolicy.single_run()


def landing_spec(contract: Contract, endpoint: str) -> AssetSpec:
    return AssetSpec(
        contract.name,
        group_name="push",
        kinds={"fastapi"},
        description=f"{contract.description} Written by the serving API's `{endpoint}`, not by "
        "Dagster.",
        metadata=definition_metadata(contract),
    )


landing_logs = landing_spec(LANDING_LOGS, "POST /ingest/logs")
landing_users = landing_spec(LANDING_USERS, "POST /users")


def event_id_sql() -> str:
    """A landing row's event id: the client's, else `landing-<id>`."""
    return "COALESCE(event_id, 'landing-' || CAST(id AS TEXT))"


def logs_select(dialect: Dialect) -> str:
    """The first landing row of each event id within each of the hours `:hours`, as `logs`
    rows: a window function inside the warehouse, faster on both engines than GROUP BY +
    MIN(id), and far faster than reading the rows through Arrow."""
    carried = [c for c in LOGS.column_names if c not in ("event_id", "landing_id")]
    inner = ", ".join(
        f"{dialect.json(quote(c))} AS {quote(c)}" if c == "attributes" else quote(c)
        for c in carried
    )
    return (
        f"SELECT {', '.join(quote(c) for c in LOGS.column_names)} FROM ("
        f"SELECT {event_id_sql()} AS event_id, {inner}, id AS landing_id, "
        f"ROW_NUMBER() OVER (PARTITION BY hour, {event_id_sql()} ORDER BY id) AS first_seen "
        "FROM landing_logs WHERE hour IN :hours) landed WHERE first_seen = 1"
    )


def hour_bounds(context: AssetExecutionContext) -> dict[str, str]:
    """The run's first and last hour, as the binds `:first` and `:last`."""
    keys = context.partition_keys
    return {"first": keys[0], "last": keys[-1]}


# An event id a client sent again in another hour is the client's mistake, not the hour's: it
# is reported, but does not hold the hour back.
LOGS_AUDITS = [
    key_unique(LOGS, blocking=False),
    not_null(LOGS),
    allowed_values(LOGS, "severity", LOG_SEVERITIES),
]


def logs(context: AssetExecutionContext, warehouse: WarehouseResource):
    """Pushed log records, one row per event id and hour: the client's `event_id`, or
    `landing-<id>` when it sent none; a repeated event id keeps its first landing row. The
    run's hours are rebuilt from `landing_logs` inside the warehouse (INSERT ... SELECT) in one
    transaction, each hour audited in it; an hour that fails its blocking checks keeps its
    published rows and the others are published without it. Every hour gets its
    `partition_ledger` row."""
    wh = warehouse.get()
    wh.ensure_table(LANDING_LOGS)

    def write(conn: Any, hours: list[str]) -> dict[str, dict[str, int]]:
        written = wh.replace_partitions_from_query(
            LOGS, hours, logs_select(wh.dialect), {"hours": hours}, conn=conn
        )
        landed = wh.count_by(LANDING_LOGS.name, "hour", hours, conn=conn)
        return {h: {"rows": written[h], "landed": landed[h]} for h in hours}

    outcomes = publish_partitions(wh, LOGS, context.partition_keys, write, LOGS_AUDITS)

    def metadata(published: Sequence[Outcome]) -> dict[str, Any]:
        rows = sum(o.facts["rows"] for o in published if o.facts)
        landed = sum(o.facts["landed"] for o in published if o.facts)
        last = published[-1].partition
        preview = wh.read(LOGS, [last], order_by=["timestamp", "landing_id"], limit=5)
        return table_metadata(LOGS, preview, rows=rows) | {
            "landing_rows": landed,
            "repeated_event_ids": landed - rows,
        }

    published = [o for o in outcomes if o.published]
    if published:
        m = metadata(published)
        context.log.info(
            f"{len(published)} of {len(outcomes)} hour(s) published: {m['landing_rows']} "
            f"landing row(s), {m['dagster/row_count']} event(s), "
            f"{m['repeated_event_ids']} repeated event id(s) dropped"
        )
    yield from publication(context, "logs", outcomes, metadata)


def export_path(hour: str) -> str:
    """The hour's CSV export: `csv/logs/hour=2024-03-01T14/part-0.csv`."""
    return hive_path("csv/logs", "hour", path_hour(hour), "part-0.csv")


def logs_export(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """An hour of logs as CSV in the lake, Hive-style, in event-time order
    (`csv/logs/hour=<YYYY-MM-DDTHH>/part-0.csv`, all columns), written from the hour's published
    version in the lake's `logs` Delta table, under a temporary name and moved into place; an
    hour without records gets a file with the header only."""
    store, tables = lake.get(), lake.tables()
    files: dict[str, str] = {}
    rows = 0
    for hour in context.partition_keys:
        relpath = export_path(hour)
        n, head = export_csv(store, tables, lake_table("logs"), hour, relpath)
        files[hour] = store.uri(relpath)
        rows += n
    return MaterializeResult(metadata=export_metadata(files, rows, head, listed=24))


def log_levels_hourly(
    context: AssetExecutionContext, warehouse: WarehouseResource
) -> MaterializeResult:
    """Log records per hour, service and severity, counted inside the warehouse from `logs`
    (INSERT ... SELECT ... GROUP BY); an hour without records has no rows."""
    wh, hours = warehouse.get(), context.partition_keys
    wh.ensure_table(LOGS)
    written = wh.replace_partitions_from_query(
        LOG_LEVELS_HOURLY,
        hours,
        "SELECT hour, service, severity, COUNT(*) FROM logs "
        "WHERE hour >= :first AND hour <= :last GROUP BY hour, service, severity",
        hour_bounds(context),
    )
    preview = wh.read(LOG_LEVELS_HOURLY, [hours[-1]], limit=10)
    return MaterializeResult(
        metadata=table_metadata(LOG_LEVELS_HOURLY, preview, rows=sum(written.values()))
    )


def logs_assets(hours: PartitionsDefinition) -> list[AssetsDefinition]:
    """The hour's assets over the hourly partitions `hours`: the deduplicated logs (with their
    checks), their CSV export and the level counts."""
    return [
        asset(
            group_name=GROUP,
            kinds={"sql"},
            deps=[landing_logs],
            partitions_def=hours,
            backfill_policy=SINGLE_RUN,
            pool="warehouse",
            metadata=definition_metadata(LOGS),
            check_specs=[a.spec("logs", hours) for a in LOGS_AUDITS],
        )(logs),
        asset(
            group_name=GROUP,
            kinds={"csv"},
            deps=[lake_key("logs")],
            partitions_def=hours,
            backfill_policy=SINGLE_RUN,
            automation_condition=FOLLOW_UPSTREAM,
        )(logs_export),
        asset(
            group_name=GROUP,
            kinds={"sql"},
            deps=["logs"],
            partitions_def=hours,
            backfill_policy=SINGLE_RUN,
            automation_condition=FOLLOW_UPSTREAM,
            pool="warehouse",
            metadata=definition_metadata(LOG_LEVELS_HOURLY),
        )(log_levels_hourly),
    ]
