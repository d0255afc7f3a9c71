"""The platform's bookkeeping sensor, at the configured interval."""

import dagster as dg

from core.settings import platform_settings_once
from orchestration.defs.platform.sensors import pipeline_runs_sensor


@dg.definitions
def platform() -> dg.Definitions:
    """The sensor that records every finished run in `pipeline_runs`."""
    return dg.Definitions(
        sensors=[pipeline_runs_sensor(platform_settings_once().sensor_interval_s)]
    )
