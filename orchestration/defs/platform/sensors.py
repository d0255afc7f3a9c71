"""Sensors that keep the platform tables current."""

from datetime import datetime

import dagster as dg

from orchestration.defs.platform.run_history import record_finished_runs
from orchestration.resources.storage import WarehouseResource


def record_runs(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.SkipReason | None:
    """One tick: copy the runs finished since the cursor into `pipeline_runs`."""
    after = datetime.fromisoformat(context.cursor) if context.cursor else None
    recorded, newest = record_finished_runs(context.instance, warehouse.get(), after)
    if newest is not None and newest != after:
        context.update_cursor(newest.isoformat())
    if not recorded:
        return dg.SkipReason("no run finished since the last tick")
    context.log.info(f"recorded {recorded} run(s) in pipeline_runs")
    return None


def pipeline_runs_sensor(interval_s: int) -> dg.SensorDefinition:
    """The run history sensor, looking every `interval_s` seconds."""

    @dg.sensor(
        name="pipeline_runs_sensor",
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Copies every finished run (success, failure, cancel) into `pipeline_runs`: "
        "run id, job, partitions, status, start, end, duration, rows written, first error.",
    )
    def sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        return record_runs(context, warehouse)

    return sensor
