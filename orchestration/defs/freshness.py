"""Freshness policies: when each table counts as late (the daemon evaluates them)."""

from datetime import timedelta

from dagster import FreshnessPolicy

# The snapshots run daily at 02:00 UTC: a day and two hours without one is late.
DAILY_SNAPSHOT = FreshnessPolicy.time_window(
    fail_window=timedelta(hours=26), warn_window=timedelta(hours=25)
)
# Yesterday's sales partition is due by 03:00 UTC, an hour after the daily run.
DAILY_PARTITION = FreshnessPolicy.cron(
    deadline_cron="0 3 * * *", lower_bound_delta=timedelta(hours=24)
)
