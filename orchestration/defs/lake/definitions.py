"""The lake's tables, partitioned as the warehouse tables they publish."""

import dagster as dg

from core.datasets import FEEDS
from core.settings import platform_settings_once
from orchestration.defs.lake.assets import lake_asset
from orchestration.defs.lake.tables import LAKE_TABLES, LakeTable
from orchestration.defs.logs.partitions import hourly_partitions
from orchestration.defs.sales_csv.partitions import daily_partitions
from orchestration.defs.snapshots.partitions import SNAPSHOT_PARTITIONS


@dg.definitions
def lake() -> dg.Definitions:
    """One `lake/<table>` asset per published warehouse table (maintenance, a job and its
    schedule, is loaded from `maintenance.py`)."""
    settings = platform_settings_once()
    days = daily_partitions(settings)
    by_domain = {"sales_csv": days, "logs": hourly_partitions(settings)}
    declared = SNAPSHOT_PARTITIONS | {feed.name: days for feed in FEEDS}

    def partitions(spec: LakeTable) -> dg.PartitionsDefinition | None:
        if not spec.partition_by:
            return None
        return declared.get(spec.name) or by_domain[spec.group]

    return dg.Definitions(assets=[lake_asset(spec, partitions(spec)) for spec in LAKE_TABLES])
