"""The sales domain's definitions that depend on the settings: its daily partitions begin on the
first day of the data, and its sensor looks at the configured interval. (Its job and schedule
are loaded from `jobs.py` and `schedules.py`.)"""

import dagster as dg

from core.settings import platform_settings_once
from orchestration.defs.drops import drop_sensor
from orchestration.defs.sales_csv.assets import sales_assets
from orchestration.defs.sales_csv.partitions import daily_partitions


@dg.definitions
def sales_csv() -> dg.Definitions:
    """A day of sales: its assets with their checks, and the drop sensor."""
    settings = platform_settings_once()
    days = daily_partitions(settings)
    return dg.Definitions(
        assets=sales_assets(days),
        sensors=[
            drop_sensor(
                "sales", "sales", "sales_job", "raw_sales", days, settings.sensor_interval_s
            )
        ],
    )
