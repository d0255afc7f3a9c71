"""The REST API snapshot every day at 02:00 UTC."""

import dagster as dg

from orchestration.defs.automation import DAILY_AT_2
from orchestration.defs.rest_snapshots.jobs import REST_DATASETS, rest_api_job

rest_api_schedule = dg.ScheduleDefinition(
    name="daily_rest_api_snapshot",
    job=rest_api_job,
    cron_schedule=DAILY_AT_2,
    execution_timezone="UTC",
    description=f"Snapshots {', '.join(REST_DATASETS)} every day at 02:00 UTC.",
)
