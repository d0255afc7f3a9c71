"""The code location: every domain folder under `defs/`, autoloaded, then the policy that spans
them: the warehouse engine's kind on its tables, the automation sensor, the resources and the
executor."""

import warnings
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from core.settings import PlatformSettings, platform_settings_once
from orchestration.resources import resources_from_env

# Single-run backfill policies, pools and spec mapping are beta or preview in Dagster 1.13; we
# pin the minor version.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)


def automation_sensor(settings: PlatformSettings) -> dg.AutomationConditionSensorDefinition:
    """Evaluates the assets' automation conditions: downstream partitions follow their
    upstream."""
    return dg.AutomationConditionSensorDefinition(
        "automation_sensor",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=settings.sensor_interval_s,
    )


def with_warehouse_kind(kind: str) -> Callable[[dg.AssetSpec], dg.AssetSpec]:
    """Tags every warehouse table (an asset naming its table) with the engine it lives on."""

    def tag(spec: dg.AssetSpec) -> dg.AssetSpec:
        if "dagster/table_name" not in spec.metadata:
            return spec
        return spec.merge_attributes(kinds={kind})

    return tag


@dg.definitions
def defs() -> dg.Definitions:
    """Assets, checks, jobs, schedules and sensors of every domain, with the resources."""
    settings = platform_settings_once()
    domains = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    return dg.Definitions.merge(
        domains.map_asset_specs(func=with_warehouse_kind(settings.warehouse_kind)),
        dg.Definitions(
            sensors=[automation_sensor(settings)],
            resources=resources_from_env(),
            # Steps here are small: one process avoids a process start per step (~2 s each).
            executor=dg.in_process_executor,
        ),
    )
