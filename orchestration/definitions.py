"""The data platform's one `Definitions` object: assets, checks, jobs, schedules, sensors and
resources."""

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    Definitions,
    in_process_executor,
    load_asset_checks_from_modules,
    load_assets_from_modules,
)

from orchestration.defs.automation import SENSOR_INTERVAL_S
from orchestration.defs.countries_graphql import assets as countries_assets
from orchestration.defs.countries_graphql import checks as countries_checks
from orchestration.defs.jobs import JOBS
from orchestration.defs.lake.assets import LAKE_ASSETS
from orchestration.defs.lake.maintenance import lake_maintenance_job, lake_maintenance_schedule
from orchestration.defs.logs import assets as logs_assets
from orchestration.defs.logs import checks as logs_checks
from orchestration.defs.logs.sensors import landing_sensor
from orchestration.defs.platform.sensors import pipeline_runs_sensor
from orchestration.defs.records import assets as records_assets
from orchestration.defs.rest_snapshots import assets as snapshot_assets
from orchestration.defs.rest_snapshots import checks as snapshot_checks
from orchestration.defs.sales_csv import assets as sales_assets
from orchestration.defs.sales_csv.sensors import sales_drop_sensor
from orchestration.defs.schedules import SCHEDULES
from orchestration.defs.users_api import assets as users_assets
from orchestration.defs.users_api import checks as users_checks
from orchestration.resources import resources_from_env

all_assets = [
    *load_assets_from_modules(
        [
            users_assets,
            snapshot_assets,
            countries_assets,
            sales_assets,
            logs_assets,
            records_assets,
        ]
    ),
    *LAKE_ASSETS,
]
# The landing tables the serving API writes: external assets, shown for lineage.
external_assets = [logs_assets.landing_logs, logs_assets.landing_users]
all_checks = load_asset_checks_from_modules(
    [users_checks, snapshot_checks, countries_checks, logs_checks]
)

# Evaluates the assets' automation conditions: downstream partitions follow their upstream.
automation_sensor = AutomationConditionSensorDefinition(
    "automation_sensor",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=SENSOR_INTERVAL_S,
)

defs = Definitions(
    assets=[*all_assets, *external_assets],
    asset_checks=all_checks,
    jobs=[*JOBS, lake_maintenance_job],
    schedules=[*SCHEDULES, lake_maintenance_schedule],
    sensors=[
        sales_drop_sensor,
        landing_sensor,
        pipeline_runs_sensor,
        automation_sensor,
    ],
    resources=resources_from_env(),
    # Steps here are small: one process avoids a process start per step (~2 s each).
    executor=in_process_executor,
)
