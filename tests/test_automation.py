"""Schedules, sensors and declarative automation, evaluated against real instances."""

import json
from datetime import UTC, date, datetime

import httpx
from dagster import (
    AssetKey,
    DagsterInstance,
    SensorResult,
    SkipReason,
    build_schedule_context,
    build_sensor_context,
    evaluate_automation_conditions,
    materialize,
)

from orchestration.contracts.datasets import PIPELINE_RUNS
from orchestration.definitions import all_assets, defs
from orchestration.defs.platform.sensors import pipeline_runs_sensor
from orchestration.defs.sales_csv.sensors import sales_drop_sensor
from orchestration.resources.sources import CsvLandingResource
from sample_sources.sales import write_drops


def skipped(result) -> str | None:
    """The skip message of a tick that requested nothing, else None."""
    if isinstance(result, SensorResult) and not result.run_requests and result.skip_reason:
        return result.skip_reason.skip_message
    return None


def tick(landing_dir, cursor=None, instance=None):
    context = build_sensor_context(
        cursor=cursor,
        instance=instance or DagsterInstance.ephemeral(),
        resources={"landing": CsvLandingResource(location=str(landing_dir))},
    )
    return sales_drop_sensor(context), context


def test_drop_sensor_runs_new_files_once_and_changed_files_again(tmp_path):
    result, _ = tick(tmp_path)
    assert "no new or changed drop" in skipped(result)

    write_drops(tmp_path, date(2024, 3, 1), 2, 200)
    first, _ = tick(tmp_path)
    assert isinstance(first, SensorResult)
    assert [r.partition_key for r in first.run_requests] == ["2024-03-01", "2024-03-02"]
    assert first.run_requests[0].run_key.startswith("sales-2024-03-01-")
    cursor = first.cursor
    assert set(json.loads(cursor)) == {"2024-03-01", "2024-03-02"}

    # The same files: nothing to do.
    result, _ = tick(tmp_path, cursor)
    assert skipped(result)

    # A changed file runs again, under a new run key; a new day runs too.
    path = tmp_path / "sales" / "sales_2024-03-02.csv"
    path.write_text(path.read_text() + "ORD-X,C1,Mug,1,2.00,2024-03-02\n")
    write_drops(tmp_path, date(2024, 3, 3), 1, 50)
    changed, _ = tick(tmp_path, cursor)
    keys = {r.partition_key: r.run_key for r in changed.run_requests}
    assert set(keys) == {"2024-03-02", "2024-03-03"}
    assert keys["2024-03-02"] != first.run_requests[1].run_key


def test_drop_sensor_waits_for_todays_partition(tmp_path):
    today = datetime.now(UTC).date()
    write_drops(tmp_path, today, 1, 20)
    result, _ = tick(tmp_path)
    # Today's partition does not exist until the day is over: look again later, not now.
    assert skipped(result)
    assert today.isoformat() not in json.loads(result.cursor)


def test_a_first_tick_skips_days_already_loaded_from_the_same_file(platform):
    instance = DagsterInstance.ephemeral()
    raw_sales = [a for a in all_assets if AssetKey("raw_sales") in a.keys]
    assert materialize(
        raw_sales, partition_key="2024-03-01", resources=platform.resources(), instance=instance
    ).success
    result, _ = tick(platform.landing_dir, instance=instance)
    # 2024-03-01 was loaded after its file last changed; the other two days were never loaded.
    assert [r.partition_key for r in result.run_requests] == ["2024-03-02", "2024-03-03"]
    assert "2024-03-01" in json.loads(result.cursor)


def test_sales_schedule_runs_yesterdays_partition_at_two():
    schedule = defs.get_schedule_def("daily_sales")
    assert schedule.cron_schedule == "0 2 * * *"
    context = build_schedule_context(scheduled_execution_time=datetime(2024, 3, 6, 2, tzinfo=UTC))
    [request] = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2024-03-05"


def test_countries_schedule_runs_every_continent_in_one_run():
    schedule = defs.get_schedule_def("daily_countries_snapshot")
    context = build_schedule_context(scheduled_execution_time=datetime(2024, 3, 6, 2, tzinfo=UTC))
    [request] = schedule.evaluate_tick(context).run_requests
    assert request.tags["dagster/asset_partition_range_start"] == "AF"
    assert request.tags["dagster/asset_partition_range_end"] == "SA"
    assert defs.get_schedule_def("daily_rest_api_snapshot").cron_schedule == "0 2 * * *"


def test_a_landed_drop_flows_downstream_by_itself(platform):
    instance = DagsterInstance.ephemeral()
    resources = platform.resources()
    first = evaluate_automation_conditions(defs=defs, instance=instance)
    raw_sales = [a for a in all_assets if AssetKey("raw_sales") in a.keys]
    assert materialize(
        raw_sales, partition_key="2024-03-02", resources=resources, instance=instance
    ).success
    result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    for asset in ("sales_orders", "sales_rejects", "sales_daily", "sales_orders_export"):
        assert result.get_requested_partitions(AssetKey(asset)) == {"2024-03-02"}, asset
    # Records waits until all its upstream tables exist.
    assert not result.get_requested_partitions(AssetKey("records"))


def test_pipeline_runs_records_successes_and_failures(platform):
    instance = DagsterInstance.ephemeral()
    resources = platform.resources()
    ok = materialize(
        all_assets, selection=["raw_users", "users"], resources=resources, instance=instance
    )
    httpx.put(f"{platform.source_url}/_faults", json={"down": True}).raise_for_status()
    failed = materialize(
        all_assets,
        selection=["raw_posts", "posts"],
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    assert ok.success and not failed.success

    context = build_sensor_context(instance=instance, resources=resources)
    assert pipeline_runs_sensor(context) is None
    runs = {r["run_id"]: r for r in platform.warehouse.read(PIPELINE_RUNS).to_pylist()}
    good, bad = runs[ok.run_id], runs[failed.run_id]
    assert good["status"] == "SUCCESS" and good["records_processed"] == 10
    assert good["error"] is None and good["duration_s"] > 0
    assert good["ended_at"] >= good["started_at"]
    assert bad["status"] == "FAILURE"
    assert "raw_posts" in bad["error"] and "REST API" in bad["error"]

    # The next tick sees nothing new and keeps its cursor.
    again = build_sensor_context(instance=instance, resources=resources, cursor=context.cursor)
    assert isinstance(pipeline_runs_sensor(again), SkipReason)
    assert platform.warehouse.count(PIPELINE_RUNS) == 2
