"""The drop sensor: a new or changed file in the landing area runs its day's partition."""

import json

import dagster as dg

from orchestration.defs.sales_csv import jobs
from orchestration.resources.sources import CsvLandingResource, Drop


def fingerprint(drop: Drop) -> str:
    """What makes a drop new: its size and modification time."""
    return f"{drop.size}-{drop.mtime_ns}"


def already_loaded(instance: dg.DagsterInstance, drops: dict[str, Drop]) -> dict[str, str]:
    """Drops whose day was materialized after the file last changed (by `make demo`, the UI or
    a backfill): a sensor switched on for the first time does not load them again."""
    loaded_at: dict[str, float] = {}
    records_filter = dg.AssetRecordsFilter(
        asset_key=dg.AssetKey("raw_sales"), asset_partitions=list(drops)
    )
    cursor = None
    while True:
        page = instance.fetch_materializations(records_filter, limit=1000, cursor=cursor)
        for record in page.records:
            day = record.partition_key
            if day is not None:
                loaded_at[day] = max(loaded_at.get(day, 0.0), record.timestamp)
        if not page.has_more:
            break
        cursor = page.cursor
    return {
        day: fingerprint(drop)
        for day, drop in drops.items()
        if day in loaded_at and drop.mtime_ns / 1e9 <= loaded_at[day]
    }


def sales_drops(
    context: dg.SensorEvaluationContext, landing: CsvLandingResource, days: dg.PartitionsDefinition
) -> dg.SensorResult:
    """One tick: a run of `sales_job` for each new or changed drop whose day is a partition of
    `days`; the cursor keeps each day's file fingerprint."""
    drops = landing.drops()
    if context.cursor:
        seen: dict[str, str] = json.loads(context.cursor)
    else:
        seen = already_loaded(context.instance, drops)
    requests, waiting = [], []
    for day, drop in drops.items():
        mark = fingerprint(drop)
        if seen.get(day) == mark:
            continue
        if not days.has_partition_key(day):
            # Today's (or an out-of-range) day has no partition yet; look again next tick.
            waiting.append(day)
            continue
        requests.append(dg.RunRequest(run_key=f"sales-{day}-{mark}", partition_key=day))
        seen[day] = mark
    if waiting:
        context.log.info(f"drops without a partition yet: {waiting}")
    if not requests:
        return dg.SensorResult(
            skip_reason=f"no new or changed drop among {len(drops)} file(s)",
            cursor=json.dumps(seen, sort_keys=True),
        )
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))


def sales_drop_sensor(days: dg.PartitionsDefinition, interval_s: int) -> dg.SensorDefinition:
    """The drop sensor over the daily partitions `days`, looking every `interval_s` seconds."""

    @dg.sensor(
        name="sales_drop_sensor",
        job=jobs.sales_job,
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Watches `<LANDING_DIR>/sales/` and runs `sales_job` for the day of every "
        "new or changed drop. The run key is the day and the file's size and mtime: the same "
        "file never runs twice, a changed one runs again.",
    )
    def sensor(context: dg.SensorEvaluationContext, landing: CsvLandingResource):
        return sales_drops(context, landing, days)

    return sensor
