"""`pipeline_runs`: Dagster's run history copied into the warehouse for the serving API.

One mechanism for every way a run starts: `record_finished_runs` upserts the runs that finished
since a cursor. The `pipeline_runs_sensor` calls it on each tick (daemon runs, UI runs, and
runs made with `dagster asset materialize` against the same instance while the daemon was
off), and the headless `make demo` path calls it once at the end. Dagster's own
`@run_status_sensor` starts from the moment it is switched on and would never see runs that
finished while no daemon ran; an upsert by run id makes a second sighting harmless.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunRecord, RunsFilter

from core.contracts.datasets import PIPELINE_RUNS
from core.warehouse import Warehouse
from orchestration.run_tags import partitions_of

FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]
BATCH = 100


def _records_processed(instance: DagsterInstance, run_id: str) -> int:
    """Rows written by the run: each asset's `dagster/row_count`, counted once per asset (a
    range run reports the range's total on every partition's event)."""
    per_asset: dict[str, int] = {}
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
        mat = entry.asset_materialization
        if mat is None:
            continue
        count = mat.metadata.get("dagster/row_count")
        if count is not None:
            per_asset[mat.asset_key.to_user_string()] = int(count.value)
    return sum(per_asset.values())


def _first_error(instance: DagsterInstance, run_id: str) -> str | None:
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        error = entry.dagster_event.step_failure_data.error
        # The user's exception, not Dagster's wrapper around it.
        while error.cause is not None:
            error = error.cause
        return f"{entry.step_key}: {error.cls_name}: {error.message.strip()}"[:2000]
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE):
        return (entry.message or "run failed")[:2000]
    return None


def _timestamp(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


def run_row(instance: DagsterInstance, record: RunRecord) -> dict[str, Any]:
    run = record.dagster_run
    started, ended = record.start_time, record.end_time
    return {
        "run_id": run.run_id,
        "job": run.job_name,
        "partitions": partitions_of(dict(run.tags)),
        "status": run.status.value,
        "started_at": _timestamp(started),
        "ended_at": _timestamp(ended),
        "duration_s": round(ended - started, 3) if started and ended else None,
        "records_processed": _records_processed(instance, run.run_id),
        "error": _first_error(instance, run.run_id)
        if run.status != DagsterRunStatus.SUCCESS
        else None,
    }


def record_finished_runs(
    instance: DagsterInstance, warehouse: Warehouse, after: datetime | None = None
) -> tuple[int, datetime | None]:
    """Upsert the runs that finished after `after` into `pipeline_runs`.

    Returns how many were recorded and the newest update time seen (the next cursor).
    """
    recorded, newest = 0, after
    while True:
        records = instance.get_run_records(
            filters=RunsFilter(statuses=FINISHED, updated_after=newest),
            order_by="update_timestamp",
            ascending=True,
            limit=BATCH,
        )
        if not records:
            return recorded, newest
        rows = [run_row(instance, r) for r in records]
        warehouse.upsert(PIPELINE_RUNS, pa.Table.from_pylist(rows, PIPELINE_RUNS.arrow_schema))
        recorded += len(rows)
        newest = records[-1].update_timestamp
        if len(records) < BATCH:
            return recorded, newest
