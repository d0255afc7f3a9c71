"""Sensors that keep the platform tables current."""

from datetime import datetime

from dagster import DefaultSensorStatus, SensorEvaluationContext, SkipReason, sensor

from orchestration.defs.automation import SENSOR_INTERVAL_S
from orchestration.defs.platform.run_history import record_finished_runs
from orchestration.resources.storage import WarehouseResource


@sensor(
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    default_status=DefaultSensorStatus.RUNNING,
    description="Copies every finished run (success, failure, cancel) into `pipeline_runs`: run "
    "id, job, partitions, status, start, end, duration, rows written, first error.",
)
def pipeline_runs_sensor(context: SensorEvaluationContext, warehouse: WarehouseResource):
    after = datetime.fromisoformat(context.cursor) if context.cursor else None
    recorded, newest = record_finished_runs(context.instance, warehouse.get(), after)
    if newest is not None and newest != after:
        context.update_cursor(newest.isoformat())
    if not recorded:
        return SkipReason("no run finished since the last tick")
    context.log.info(f"recorded {recorded} run(s) in pipeline_runs")
    return None
