"""Partitions: a day of sales drops and a continent of countries."""

from __future__ import annotations

import os

from dagster import DailyPartitionsDefinition, StaticPartitionsDefinition

# The first day a sales drop can exist; the bundled sample drops start on 2024-03-01.
SALES_START_DATE = os.environ.get("SALES_START_DATE", "2024-01-01")

daily_partitions = DailyPartitionsDefinition(start_date=SALES_START_DATE, timezone="UTC")

CONTINENTS = ("AF", "AN", "AS", "EU", "NA", "OC", "SA")
continent_partitions = StaticPartitionsDefinition(list(CONTINENTS))
