"""An hour of pushed logs: the hourly partitions, from the first hour a record can belong to."""

import dagster as dg

from core.settings import PlatformSettings


def hourly_partitions(settings: PlatformSettings) -> dg.HourlyPartitionsDefinition:
    """One partition per UTC hour since `settings.first_hour_key` (LOGS_START_DATE, else the
    first day's 00:00; the serving API refuses earlier records). Keys are
    `contracts.datasets.log_hour`'s `YYYY-MM-DD-HH:00`, Dagster's hourly format.

    `end_offset=1`: the current, unfinished hour is a partition too, so records pushed now are
    served within a sensor interval rather than after the hour closes (its runs rebuild the
    hour as it fills)."""
    return dg.HourlyPartitionsDefinition(
        start_date=settings.first_hour_key, timezone="UTC", end_offset=1
    )
