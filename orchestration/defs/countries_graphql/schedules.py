"""Every continent's countries every day at 02:00 UTC."""

import dagster as dg

from orchestration.defs.automation import DAILY_AT_2
from orchestration.defs.countries_graphql import jobs
from orchestration.defs.countries_graphql.partitions import CONTINENTS
from orchestration.run_tags import range_tags


@dg.schedule(
    name="daily_countries_snapshot",
    job=jobs.countries_job,
    cron_schedule=DAILY_AT_2,
    execution_timezone="UTC",
    description="Every continent's countries, in one run, every day at 02:00 UTC.",
)
def countries_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = context.scheduled_execution_time.date().isoformat()
    return dg.RunRequest(
        run_key=f"countries-{day}",
        tags=range_tags(CONTINENTS[0], CONTINENTS[-1]),
    )
