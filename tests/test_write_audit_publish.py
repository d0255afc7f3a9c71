"""Write, audit, publish: a day's new version is checked before anyone can read it, and a version
that fails its blocking checks changes nothing a reader sees; on SQLite and on PostgreSQL."""

import json
import re
from datetime import date

from dagster import AssetCheckEvaluation, AssetKey

from core.contracts.datasets import (
    COUNTRIES,
    PARTITION_LEDGER,
    QUARANTINE,
    SALES_DAILY,
    SALES_ORDERS,
    SALES_REJECTS,
)
from core.datasets.countries import COUNTRIES as COUNTRIES_SNAPSHOT
from orchestration.defs.raw_zone import read_raw_json, write_raw_json
from orchestration.defs.snapshots.assets import raw_path
from orchestration.resources.storage import LakeResource
from sample_sources.sales import generate_day
from tests.test_assets import SALES
from tests.test_assets import run as run_assets

DAYS = ["2024-03-01", "2024-03-02", "2024-03-03"]
ORDER_CHECKS = {"key_unique", "required_not_null", "value_ranges", "reject_ratio"}


def run(platform, days):
    """The sales assets for `days`: one partition, or a range in one run."""
    if len(days) == 1:
        return run_assets(platform, SALES, partition_key=days[0])
    return run_assets(platform, SALES, days=days)


def drop(platform, day: str):
    return platform.landing_dir / "sales" / f"sales_{day}.csv"


def repeat_ids_of(platform, source_day: str, day: str) -> int:
    """Rewrite `day`'s drop with `source_day`'s order ids: every clean order of the new version
    then shares its key with a published row of another day. Returns the drop's data lines."""
    text = drop(platform, source_day).read_text().replace(source_day, day)
    drop(platform, day).write_text(text)
    return text.count("\n") - 1


def failure_message(result) -> str:
    [failure] = result.get_step_failure_events()
    return failure.event_specific_data.error.message


def by_partition(result, asset: str) -> dict[str, dict[str, AssetCheckEvaluation]]:
    out: dict[str, dict[str, AssetCheckEvaluation]] = {}
    for e in result.get_asset_check_evaluations():
        if e.asset_key == AssetKey(asset):
            out.setdefault(e.partition, {})[e.check_name] = e
    return out


def materialized(result, asset: str) -> list[str]:
    return sorted(
        e.partition
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == asset
    )


def snapshot(platform) -> dict:
    """What a reader of the warehouse and the lake sees of the sales days."""
    wh = platform.warehouse
    exports = sorted(p.relative_to(platform.lake_dir) for p in platform.lake_dir.rglob("*.*"))
    return {
        "orders": wh.read(SALES_ORDERS).to_pylist(),
        "rejects": wh.read(SALES_REJECTS).to_pylist(),
        "daily": wh.read(SALES_DAILY).to_pylist(),
        "ledger": {
            (r["asset"], r["partition"]): (r["rows"], r["run_id"])
            for r in wh.read(PARTITION_LEDGER).to_pylist()
        },
        "files": {
            str(p): (platform.lake_dir / p).read_bytes()
            for p in exports
            if not str(p).startswith("raw/")
        },
    }


def test_a_drop_repeating_another_days_ids_changes_nothing_a_reader_sees(platform):
    assert run(platform, DAYS).success
    before = snapshot(platform)
    lines = repeat_ids_of(platform, "2024-03-01", "2024-03-02")

    bad = run(platform, ["2024-03-02"])

    assert not bad.success
    message = failure_message(bad)
    assert "2024-03-02 not published, failed: key_unique" in message
    assert "0 of 1 day(s) published" in message
    assert snapshot(platform) == before
    # The check says exactly how many rows, not a capped sample's size.
    dup = platform.warehouse.read(SALES_ORDERS, ["2024-03-01"]).num_rows
    unique = by_partition(bad, "sales_orders")["2024-03-02"]["key_unique"]
    assert not unique.passed and unique.metadata["duplicated_keys"].value == dup > 20
    assert len(unique.metadata["examples"].value) == 20
    assert f"{dup} row(s) share their key with another partition" in unique.description
    assert "ORD-20240301-" in unique.metadata["offending_preview"].value
    assert dup <= lines
    # Neither the summary nor the export ran from the rejected version.
    assert materialized(bad, "sales_orders") == []
    assert materialized(bad, "sales_daily") == [] == materialized(bad, "sales_orders_export")
    # The rejected version waits in quarantine, with its run and check.
    kept = platform.warehouse.read(QUARANTINE).to_pylist()
    assert len(kept) == dup
    assert {(r["asset"], r["partition"], r["check_name"], r["run_id"]) for r in kept} == {
        ("sales_orders", "2024-03-02", "key_unique", bad.run_id)
    }
    assert json.loads(kept[0]["row"])["order_id"].startswith("ORD-20240301-")

    # The next good drop of the day publishes and empties its quarantine.
    drop(platform, "2024-03-02").write_text(generate_day(date(2024, 3, 2), 300))
    good = run(platform, ["2024-03-02"])
    assert good.success
    assert platform.warehouse.count(SALES_ORDERS, ["2024-03-02"]) > 0
    assert platform.warehouse.count(QUARANTINE) == 0
    assert all(e.passed for e in by_partition(good, "sales_orders")["2024-03-02"].values())


def test_a_range_publishes_its_good_days_and_names_the_others(platform):
    drop(platform, "2024-03-02").unlink()
    text = drop(platform, "2024-03-03").read_text()
    # Two of every three lines lose their price: far above the 20 % reject ratio.
    lines = text.splitlines()
    broken = [
        re.sub(r",[0-9.]+,(2024-03-03)$", r",,\1", line) if i % 3 else line
        for i, line in enumerate(lines[1:])
    ]
    drop(platform, "2024-03-03").write_text("\n".join([lines[0], *broken]) + "\n")

    result = run(platform, DAYS)

    assert not result.success
    message = failure_message(result)
    assert "no sales drop for 1 day(s): ['2024-03-02']" in message
    assert "2024-03-03 not published, failed: reject_ratio" in message
    assert "1 of 3 day(s) published" in message
    # The good day is committed and shown materialized; the others are not.
    assert materialized(result, "sales_orders") == ["2024-03-01"]
    assert materialized(result, "raw_sales") == ["2024-03-01", "2024-03-03"]
    assert platform.warehouse.count(SALES_ORDERS, ["2024-03-01"]) > 0
    assert platform.warehouse.count(SALES_ORDERS, ["2024-03-02", "2024-03-03"]) == 0
    # Each audited day has its own check results; the missing day has none.
    checks = by_partition(result, "sales_orders")
    assert set(checks) == {"2024-03-01", "2024-03-03"}
    assert all(e.passed for e in checks["2024-03-01"].values())
    ratio = checks["2024-03-03"]["reject_ratio"]
    assert not ratio.passed and ratio.metadata["worst_ratio"].value > 0.5
    # The failed day's rejects are what it quarantined.
    kept = platform.warehouse.read(QUARANTINE).to_pylist()
    assert {r["check_name"] for r in kept} == {"reject_ratio"}
    assert len(kept) == ratio.metadata["rejected_rows"].value


def test_a_range_run_records_every_days_checks(platform):
    result = run(platform, DAYS)
    assert result.success
    checks = by_partition(result, "sales_orders")
    assert set(checks) == set(DAYS)
    for day in DAYS:
        assert ORDER_CHECKS | {"row_count_anomaly"} == set(checks[day])
        assert all(e.passed for e in checks[day].values()), day
    assert set(by_partition(result, "raw_sales")) == set(DAYS)
    # None without a partition: a range run used to record one result for all its days.
    assert all(e.partition for e in result.get_asset_check_evaluations())


def test_each_day_of_a_range_run_carries_its_own_row_count(platform):
    result = run(platform, DAYS)
    assert result.success
    wh = platform.warehouse
    shown = {
        (e.asset_key.to_user_string(), e.partition): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    for day in DAYS:
        orders = shown[("sales_orders", day)]
        assert orders["dagster/row_count"].value == wh.count(SALES_ORDERS, [day]), day
        assert {d for d in DAYS if d in orders["preview"].value} == {day}, day
        assert shown[("sales_daily", day)]["dagster/row_count"].value == 1, day


def test_a_continent_repeating_another_continents_code_keeps_its_published_rows(platform):
    assert run_assets(platform, ["raw_countries", "countries"], days=["EU", "NA"]).success
    wh = platform.warehouse
    before = wh.read(COUNTRIES).to_pylist()
    store = LakeResource(url=str(platform.lake_dir)).get()
    eu, na = raw_path(COUNTRIES_SNAPSHOT, "EU"), raw_path(COUNTRIES_SNAPSHOT, "NA")
    raw = read_raw_json(store, eu)
    usa = next(c for c in read_raw_json(store, na) if c["code"] == "US")
    write_raw_json(store, eu, [*raw, usa | {"continent": raw[0]["continent"]}])

    result = run_assets(platform, ["countries"], partition_key="EU")

    assert not result.success
    assert "EU not published, failed: key_unique (1 row(s) share their key" in failure_message(
        result
    )
    assert wh.read(COUNTRIES).to_pylist() == before
    [kept] = wh.read(QUARANTINE).to_pylist()
    assert (kept["asset"], kept["partition"], kept["check_name"]) == (
        "countries",
        "EU",
        "key_unique",
    )
    assert json.loads(kept["row"])["code"] == "US"


def test_a_first_day_rejected_on_a_new_warehouse_does_not_hold_back_the_next(platform):
    # The tables are created inside the rejected day's transaction, and rolled back with it.
    text = drop(platform, "2024-03-01").read_text()
    lines = text.splitlines()
    drop(platform, "2024-03-01").write_text("\n".join([lines[0], *lines[1:50]]) + "\n")
    bad = "\n".join(line.replace(",2024-03-01", ",2024-02-30") for line in lines[50:])
    drop(platform, "2024-03-01").write_text("\n".join([lines[0], *lines[1:50], bad]) + "\n")

    result = run(platform, DAYS[:2])

    assert "2024-03-01 not published, failed: reject_ratio" in failure_message(result)
    assert materialized(result, "sales_orders") == ["2024-03-02"]
    assert platform.warehouse.count(SALES_ORDERS, ["2024-03-02"]) > 0


def test_a_snapshots_checks_are_aimed_at_the_version_they_published(platform):
    result = run_assets(platform, ["raw_users", "users", "raw_posts", "posts", "records"])
    assert result.success
    evaluations = {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.get_asset_check_evaluations()
    }
    for asset in ("users", "posts", "records"):
        for check in ("key_unique", "required_not_null"):
            e = evaluations[(asset, check)]
            # Passed, on this run's materialization: the UI counts it for the latest one.
            assert e.passed and e.partition is None, (asset, check)
            assert e.target_materialization_data.run_id == result.run_id, (asset, check)
