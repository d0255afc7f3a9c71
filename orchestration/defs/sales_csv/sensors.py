"""The drop sensor: a new or changed file in the landing area runs its day's partition."""

import json

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from orchestration.defs.jobs import sales_job
from orchestration.defs.partitions import daily_partitions
from orchestration.resources.sources import CsvLandingResource


def fingerprint(size: int, mtime_ns: int) -> str:
    """What makes a drop new: its size and modification time."""
    return f"{size}-{mtime_ns}"


@sensor(
    job=sales_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Watches `<LANDING_DIR>/sales/` and runs `sales_job` for the day of every new "
    "or changed drop. The run key is the day and the file's size and mtime: the same file "
    "never runs twice, a changed one runs again.",
)
def sales_drop_sensor(context: SensorEvaluationContext, landing: CsvLandingResource):
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    drops = landing.drops()
    requests, waiting = [], []
    for day, drop in drops.items():
        mark = fingerprint(drop.size, drop.mtime_ns)
        if seen.get(day) == mark:
            continue
        if not daily_partitions.has_partition_key(day):
            # Today's (or an out-of-range) day has no partition yet; look again next tick.
            waiting.append(day)
            continue
        requests.append(RunRequest(run_key=f"sales-{day}-{mark}", partition_key=day))
        seen[day] = mark
    if waiting:
        context.log.info(f"drops without a partition yet: {waiting}")
    if not requests:
        return SkipReason(f"no new or changed drop among {len(drops)} file(s)")
    return SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))
