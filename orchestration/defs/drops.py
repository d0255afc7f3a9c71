"""Drop sensors: a new or changed file in a landing folder runs its day's partition."""

import json

import dagster as dg

from orchestration.resources.sources import CsvLandingResource, Drop


def fingerprint(drop: Drop) -> str:
    """What makes a drop new: its size and modification time."""
    return f"{drop.size}-{drop.mtime_ns}"


def already_loaded(
    instance: dg.DagsterInstance, drops: dict[str, Drop], raw_asset: str
) -> dict[str, str]:
    """Drops whose day of `raw_asset` was materialized after the file last changed (by
    `make demo`, the UI or a backfill): a sensor switched on for the first time does not load
    them again."""
    loaded_at: dict[str, float] = {}
    records_filter = dg.AssetRecordsFilter(
        asset_key=dg.AssetKey(raw_asset), asset_partitions=list(drops)
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


def new_drops(
    context: dg.SensorEvaluationContext,
    drops: dict[str, Drop],
    days: dg.PartitionsDefinition,
    raw_asset: str,
    run_key_prefix: str,
) -> dg.SensorResult:
    """One tick: a run for each new or changed drop whose day is a partition of `days`; the
    cursor keeps each day's file fingerprint."""
    if context.cursor:
        seen: dict[str, str] = json.loads(context.cursor)
    else:
        seen = already_loaded(context.instance, drops, raw_asset)
    requests, waiting = [], []
    for day, drop in drops.items():
        mark = fingerprint(drop)
        if seen.get(day) == mark:
            continue
        if not days.has_partition_key(day):
            # Today's (or an out-of-range) day has no partition yet; look again next tick.
            waiting.append(day)
            continue
        requests.append(dg.RunRequest(run_key=f"{run_key_prefix}-{day}-{mark}", partition_key=day))
        seen[day] = mark
    if waiting:
        context.log.info(f"drops without a partition yet: {waiting}")
    if not requests:
        return dg.SensorResult(
            skip_reason=f"no new or changed drop among {len(drops)} file(s)",
            cursor=json.dumps(seen, sort_keys=True),
        )
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))


def drop_sensor(
    name: str,
    folder: str,
    job_name: str,
    raw_asset: str,
    days: dg.PartitionsDefinition,
    interval_s: int,
) -> dg.SensorDefinition:
    """`<name>_drop_sensor`: watches `<LANDING_DIR>/<folder>/` every `interval_s` seconds and
    runs the job `job_name` for the day of every new or changed drop (a partition of `days`)."""

    @dg.sensor(
        name=f"{name}_drop_sensor",
        job_name=job_name,
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Watches `<LANDING_DIR>/{folder}/` and runs `{job_name}` for the day of "
        "every new or changed drop. The run key is the day and the file's size and mtime: the "
        "same file never runs twice, a changed one runs again.",
    )
    def sensor(context: dg.SensorEvaluationContext, landing: CsvLandingResource):
        return new_drops(context, landing.drops(folder), days, raw_asset, name)

    return sensor
