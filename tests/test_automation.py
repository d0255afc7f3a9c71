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

from core.contracts.datasets import PIPELINE_RUNS
from orchestration import definitions
from orchestration.resources.sources import CsvLandingResource
from sample_sources.sales import write_drops

defs = definitions.defs()
all_assets = defs.assets
sales_drop_sensor = defs.get_sensor_def("sales_drop_sensor")
pipeline_runs_sensor = defs.get_sensor_def("pipeline_runs_sensor")


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
    raw_sales = [defs.get_assets_def("raw_sales")]
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


def land(platform, instance, day: str, **resources) -> bool:
    """Land one day's drop as the sales job's first step does: raw, orders and rejects."""
    landing = [defs.get_assets_def("raw_sales")]
    return materialize(
        landing,
        partition_key=day,
        resources=platform.resources(**resources),
        instance=instance,
        raise_on_error=False,
    ).success


def requested(result, asset: str) -> set[str] | bool:
    """The partitions requested of `asset` (for an unpartitioned one, whether it was)."""
    key = AssetKey.from_user_string(asset)
    if asset == "records":
        return bool(result.get_num_requested(key))
    return result.get_requested_partitions(key)


def test_a_landed_drop_flows_downstream_by_itself(platform):
    instance = DagsterInstance.ephemeral()
    first = evaluate_automation_conditions(defs=defs, instance=instance)
    assert land(platform, instance, "2024-03-02")
    result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    for asset in ("sales_daily", "lake/sales_orders", "lake/sales_rejects", "sales_orders_export"):
        assert requested(result, asset) == {"2024-03-02"}, asset
    # Landed in the same step: nothing left to request of them.
    assert not requested(result, "sales_orders") and not requested(result, "sales_rejects")
    # Records waits until the snapshots it unifies exist.
    assert not requested(result, "records")


def test_records_follows_a_new_day_over_years_of_empty_partitions(platform):
    instance = DagsterInstance.ephemeral()
    resources = platform.resources()
    # Years of daily partitions, a few of them filled.
    days = defs.get_assets_def("raw_sales").partitions_def
    assert len(days.get_partition_keys()) > 365
    tick = evaluate_automation_conditions(defs=defs, instance=instance)
    # The REST snapshots as a deployment's daily run builds them (every dataset of the group,
    # with their checks): `records` waits for each one and for their blocking checks.
    rest_api_job = defs.resolve_job_def("rest_api_job")
    assert rest_api_job.execute_in_process(instance=instance, resources=resources).success
    assert land(platform, instance, "2024-03-01")
    tick = evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert requested(tick, "records")
    assert materialize(all_assets, selection=["records"], resources=resources, instance=instance)
    tick = evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert not requested(tick, "records")

    assert land(platform, instance, "2024-03-02")
    tick = evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert requested(tick, "records")
    assert requested(tick, "sales_daily") == {"2024-03-02"}
    assert materialize(all_assets, selection=["records"], resources=resources, instance=instance)
    tick = evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)

    # A pushed user reaches `users` through `push_users_job`; records follows.
    push = defs.resolve_job_def("push_users_job")
    assert push.execute_in_process(instance=instance, resources=resources).success
    tick = evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert requested(tick, "records")


def test_nothing_builds_on_a_day_whose_new_version_failed(platform):
    instance = DagsterInstance.ephemeral()
    tick = evaluate_automation_conditions(defs=defs, instance=instance)
    for day in ("2024-03-01", "2024-03-02"):
        assert land(platform, instance, day)
    tick = evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert requested(tick, "sales_daily") == {"2024-03-01", "2024-03-02"}
    for asset in ("sales_daily", "lake/sales_orders", "sales_orders_export"):
        assert materialize(
            all_assets,
            selection=[asset],
            partition_key="2024-03-02",
            resources=platform.resources(),
            instance=instance,
        ).success
    # A new drop for 2024-03-02 repeating 2024-03-01's order ids fails key_unique.
    drops = platform.landing_dir / "sales"
    text = (drops / "sales_2024-03-01.csv").read_text().replace("2024-03-01", "2024-03-02")
    (drops / "sales_2024-03-02.csv").write_text(text)
    assert not land(platform, instance, "2024-03-02")
    tick = evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    for asset in ("sales_daily", "lake/sales_orders", "lake/sales_rejects", "sales_orders_export"):
        assert "2024-03-02" not in requested(tick, asset), asset


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
