"""Checks on the hourly level counts, run per hour like their asset (the logs' own are evaluated
in their step, on each hour's new version: `assets.py`)."""

from core.contracts.datasets import LOG_LEVELS_HOURLY, LOG_SEVERITIES
from orchestration.defs.partitions import hourly_partitions
from orchestration.defs.quality import allowed_values_check, key_unique_check, not_null_check

levels_key_unique = key_unique_check(LOG_LEVELS_HOURLY, hourly_partitions)
levels_not_null = not_null_check(LOG_LEVELS_HOURLY, hourly_partitions)
levels_severity = allowed_values_check(
    LOG_LEVELS_HOURLY, "severity", LOG_SEVERITIES, hourly_partitions
)
