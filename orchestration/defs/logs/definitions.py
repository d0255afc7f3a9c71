"""The logs domain's definitions that depend on the settings: its hourly partitions begin at
the first hour of the data, and its sensor looks at the configured interval. (The landing
tables, its job and its checks' contracts are loaded from `assets.py` and `jobs.py`.)"""

import dagster as dg

from core.settings import platform_settings_once
from orchestration.defs.logs.assets import logs_assets
from orchestration.defs.logs.checks import levels_checks
from orchestration.defs.logs.partitions import hourly_partitions
from orchestration.defs.logs.sensors import landing_sensor


@dg.definitions
def logs() -> dg.Definitions:
    """An hour of pushed logs: its assets and checks, and the landing sensor."""
    settings = platform_settings_once()
    hours = hourly_partitions(settings)
    return dg.Definitions(
        assets=logs_assets(hours),
        asset_checks=levels_checks(hours),
        sensors=[landing_sensor(hours, settings.landing_interval_s)],
    )
