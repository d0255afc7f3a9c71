"""The lake's tables, partitioned as the warehouse tables they publish."""

import dagster as dg

from core.settings import platform_settings_once
from orchestration.defs.countries_graphql.partitions import continent_partitions
from orchestration.defs.lake.assets import lake_asset
from orchestration.defs.lake.tables import LAKE_TABLES
from orchestration.defs.logs.partitions import hourly_partitions
from orchestration.defs.sales_csv.partitions import daily_partitions


@dg.definitions
def lake() -> dg.Definitions:
    """One `lake/<table>` asset per published warehouse table (maintenance, a job and its
    schedule, is loaded from `maintenance.py`)."""
    settings = platform_settings_once()
    by_domain = {
        "graphql_api": continent_partitions,
        "sales_csv": daily_partitions(settings),
        "logs": hourly_partitions(settings),
    }
    return dg.Definitions(
        assets=[
            lake_asset(spec, by_domain[spec.group] if spec.partition_by else None)
            for spec in LAKE_TABLES
        ]
    )
