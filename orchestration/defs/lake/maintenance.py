"""Lake maintenance: compact each Delta table's small files and delete the files that only
versions older than the retention window read, every day after the daily loads."""

import dagster as dg
from pydantic import Field

from core.settings import platform_settings_once
from orchestration.defs.lake.assets import lake_key
from orchestration.defs.lake.tables import LAKE_TABLES
from orchestration.resources.storage import LakeResource


class LakeMaintenanceConfig(dg.Config):
    retention_hours: int = Field(
        default_factory=lambda: platform_settings_once().lake_retention_hours,
        ge=0,
        description="Versions younger than this stay readable (LAKE_RETENTION_HOURS, 168).",
    )


@dg.op
def maintain_lake_tables(
    context: dg.OpExecutionContext, config: LakeMaintenanceConfig, lake: LakeResource
) -> None:
    """For every lake table: compact each partition's small files into few large ones (the
    hourly logs into one file a day), then vacuum the files no version within the retention
    window reads. Each table's figures are recorded on its asset as an observation."""
    tables = lake.tables()
    for spec in LAKE_TABLES:
        if not tables.exists(spec.name):
            continue
        before = tables.state(spec.name)
        compacted = tables.compact(spec.name)
        vacuumed = tables.vacuum(spec.name, config.retention_hours)
        after = tables.state(spec.name)
        context.log.info(
            f"{spec.name}: {before.files} -> {after.files} file(s), "
            f"{len(vacuumed)} old file(s) deleted, version {after.version}"
        )
        context.log_event(
            dg.AssetObservation(
                asset_key=lake_key(spec.name),
                metadata={
                    "dagster/uri": after.uri,
                    "delta_version": after.version,
                    "table_files": after.files,
                    "table_rows": after.rows,
                    "files_before_compaction": before.files,
                    **compacted,
                    "files_vacuumed": len(vacuumed),
                    "retention_hours": config.retention_hours,
                },
            )
        )


@dg.job(description="Compact the lake's Delta tables and delete files older than retention.")
def lake_maintenance_job() -> None:
    maintain_lake_tables()


lake_maintenance_schedule = dg.ScheduleDefinition(
    name="daily_lake_maintenance",
    job=lake_maintenance_job,
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
    description="Compacts and vacuums the lake every day at 03:00 UTC, after the 02:00 loads.",
)
