"""Yesterday's sales partition every day at 02:00 UTC, the time the source documents chose."""

import dagster as dg

from orchestration.defs.sales_csv import jobs

# Built from the partitioned job: the 02:00 tick of day D runs partition D-1 (yesterday).
sales_schedule = dg.build_schedule_from_partitioned_job(
    jobs.sales_job,
    name="daily_sales",
    hour_of_day=2,
    description="Yesterday's sales partition every day at 02:00 UTC.",
)
