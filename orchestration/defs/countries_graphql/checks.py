"""Checks on the countries."""

from orchestration.contracts.datasets import COUNTRIES
from orchestration.contracts.raw import RAW_SCHEMAS
from orchestration.defs.countries_graphql.assets import raw_countries_path
from orchestration.defs.partitions import continent_partitions
from orchestration.defs.quality import key_unique_check, not_null_check, raw_drift_check

raw_countries_drift = raw_drift_check(
    "raw_countries",
    RAW_SCHEMAS["raw_countries"],
    lambda continent: f"raw/{raw_countries_path(continent)}",
    partitions_def=continent_partitions,
)
countries_key_unique = key_unique_check(COUNTRIES, continent_partitions)
countries_not_null = not_null_check(COUNTRIES, continent_partitions)
