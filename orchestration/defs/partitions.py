"""Partitions: a day of sales drops, a continent of countries and an hour of pushed logs."""

from __future__ import annotations

import os

from dagster import (
    DailyPartitionsDefinition,
    HourlyPartitionsDefinition,
    StaticPartitionsDefinition,
)

# The first day a sales drop can exist; the bundled sample drops start on 2024-03-01.
SALES_START_DATE = os.environ.get("SALES_START_DATE", "2024-01-01")

daily_partitions = DailyPartitionsDefinition(start_date=SALES_START_DATE, timezone="UTC")

CONTINENTS = ("AF", "AN", "AS", "EU", "NA", "OC", "SA")
continent_partitions = StaticPartitionsDefinition(list(CONTINENTS))

# The first hour a pushed log record can belong to. Keys are `contracts.datasets.log_hour`'s
# `YYYY-MM-DD-HH:00`, Dagster's hourly format.
LOGS_START_DATE = os.environ.get("LOGS_START_DATE", "2024-01-01-00:00")

# `end_offset=1`: the current, unfinished hour is a partition too, so records pushed now are
# served within a sensor interval rather than after the hour closes (its runs rebuild the
# hour as it fills).
hourly_partitions = HourlyPartitionsDefinition(
    start_date=LOGS_START_DATE, timezone="UTC", end_offset=1
)
