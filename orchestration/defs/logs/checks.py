"""Checks on the hourly level counts, run per hour like their asset (the logs' own are evaluated
in their step, on each hour's new version: `assets.py`)."""

import dagster as dg

from core.contracts.datasets import LOG_LEVELS_HOURLY, LOG_SEVERITIES
from orchestration.defs.quality import allowed_values_check, key_unique_check, not_null_check


def levels_checks(hours: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    """Key, required columns and severities of `log_levels_hourly`, per hour of `hours`."""
    return [
        key_unique_check(LOG_LEVELS_HOURLY, hours),
        not_null_check(LOG_LEVELS_HOURLY, hours),
        allowed_values_check(LOG_LEVELS_HOURLY, "severity", LOG_SEVERITIES, hours),
    ]
