"""Checks on the raw countries (the table's own are evaluated in its step, on each new version:
`assets.py`)."""

from core.contracts.raw import RAW_SCHEMAS
from orchestration.defs.countries_graphql.assets import raw_countries_path
from orchestration.defs.countries_graphql.partitions import continent_partitions
from orchestration.defs.quality import raw_drift_check

raw_countries_drift = raw_drift_check(
    "raw_countries",
    RAW_SCHEMAS["raw_countries"],
    lambda continent: f"raw/{raw_countries_path(continent)}",
    partitions_def=continent_partitions,
)
