"""The daily schedule at 02:00 UTC, the time the source documents chose."""

from dagster import (
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    build_schedule_from_partitioned_job,
    schedule,
)

from orchestration.defs.jobs import countries_job, rest_api_job, sales_job
from orchestration.defs.partitions import CONTINENTS
from orchestration.run_tags import range_tags

DAILY_AT_2 = "0 2 * * *"

rest_api_schedule = ScheduleDefinition(
    name="daily_rest_api_snapshot",
    job=rest_api_job,
    cron_schedule=DAILY_AT_2,
    execution_timezone="UTC",
    description="Snapshots users and posts every day at 02:00 UTC.",
)


@schedule(
    name="daily_countries_snapshot",
    job=countries_job,
    cron_schedule=DAILY_AT_2,
    execution_timezone="UTC",
    description="Every continent's countries, in one run, every day at 02:00 UTC.",
)
def countries_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    day = context.scheduled_execution_time.date().isoformat()
    return RunRequest(
        run_key=f"countries-{day}",
        tags=range_tags(CONTINENTS[0], CONTINENTS[-1]),
    )


# Built from the partitioned job: the 02:00 tick of day D runs partition D-1 (yesterday).
sales_schedule = build_schedule_from_partitioned_job(
    sales_job,
    name="daily_sales",
    hour_of_day=2,
    description="Yesterday's sales partition every day at 02:00 UTC.",
)

SCHEDULES = [rest_api_schedule, countries_schedule, sales_schedule]
