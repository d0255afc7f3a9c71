"""A day of sales drops: the daily partitions, from the first day the data can have."""

import dagster as dg

from core.settings import PlatformSettings


def daily_partitions(settings: PlatformSettings) -> dg.DailyPartitionsDefinition:
    """One partition per UTC day since `settings.first_day` (SALES_START_DATE, or the start
    `make run` kept), so that the partitions are the days that can have data rather than years
    of empty ones."""
    return dg.DailyPartitionsDefinition(start_date=settings.first_day.isoformat(), timezone="UTC")
