"""Partitions: a day of sales drops, a continent of countries and an hour of pushed logs."""

from __future__ import annotations

from dagster import (
    DailyPartitionsDefinition,
    HourlyPartitionsDefinition,
    StaticPartitionsDefinition,
)

from core.settings import platform_settings

# Where the data begins (`core.settings`): under `make run`, the first day of the drops
# it landed, so that the partitions are the days that can have data rather than years of empty
# ones.
_settings = platform_settings()

# The first day a sales drop can exist.
SALES_START_DATE = _settings.first_day.isoformat()

daily_partitions = DailyPartitionsDefinition(start_date=SALES_START_DATE, timezone="UTC")

CONTINENTS = ("AF", "AN", "AS", "EU", "NA", "OC", "SA")
continent_partitions = StaticPartitionsDefinition(list(CONTINENTS))

# The first hour a pushed log record can belong to (the serving API refuses earlier ones). Keys
# are `contracts.datasets.log_hour`'s `YYYY-MM-DD-HH:00`, Dagster's hourly format.
LOGS_START_DATE = _settings.first_hour_key

# `end_offset=1`: the current, unfinished hour is a partition too, so records pushed now are
# served within a sensor interval rather than after the hour closes (its runs rebuild the
# hour as it fills).
hourly_partitions = HourlyPartitionsDefinition(
    start_date=LOGS_START_DATE, timezone="UTC", end_offset=1
)
