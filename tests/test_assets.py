"""Every asset materialized through Dagster against the sample sources over real HTTP,
on SQLite and on PostgreSQL."""

import datetime as dt
import json
from datetime import date

import httpx
import pytest
from dagster import DagsterInstance, materialize
from deltalake import DeltaTable

from core.contracts.datasets import (
    API_REJECTS,
    COUNTRIES,
    POSTS,
    RECORDS,
    SALES_DAILY,
    SALES_ORDERS,
    SALES_REJECTS,
    USERS,
)
from core.datasets.countries import CONTINENTS
from orchestration.backfill import SALES_ASSETS
from orchestration.definitions import defs
from orchestration.defs.raw_zone import load_records
from orchestration.run_tags import range_tags
from sample_sources import rest

all_assets = defs().assets

REST = ["raw_users", "raw_posts", "users", "posts"]
COUNTRY_ASSETS = ["raw_countries", "countries"]
SALES = SALES_ASSETS
DAYS = ["2024-03-01", "2024-03-02", "2024-03-03"]


def run(platform, selection, *, partition_key=None, days=None, instance=None, **resources):
    return materialize(
        all_assets,
        selection=selection,
        partition_key=partition_key,
        tags=range_tags(days[0], days[-1]) if days else {},
        resources=platform.resources(**resources),
        instance=instance or DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def metadata(result, asset: str) -> dict:
    events = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == asset
    ]
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


def test_rest_snapshots_land_raw_and_normalized(platform):
    result = run(platform, REST)
    assert result.success
    wh = platform.warehouse
    users = wh.read(USERS).to_pylist()
    assert [u["id"] for u in users] == [u["id"] for u in rest.USERS]
    assert users[0]["city"] == rest.USERS[0]["address"]["city"]
    assert users[0]["company_name"] == rest.USERS[0]["company"]["name"]
    assert all(u["email"] == u["email"].lower() and u["source"] == "api" for u in users)
    assert wh.count(POSTS) == 100
    # Raw is kept exactly as received.
    raw = json.loads((platform.lake_dir / "raw/rest/users.json").read_text())
    assert raw == rest.USERS
    assert metadata(result, "users")["dagster/row_count"] == 10
    assert "preview" in metadata(result, "users")


def test_fetched_at_is_when_the_snapshot_was_taken_not_when_it_was_reloaded(platform):
    """`push_users_job` re-runs `users` from the same raw snapshot to merge pushed users; the
    API users were not fetched again, and their `fetched_at` says so."""

    def written(name: str) -> dt.datetime:
        mtime = (platform.lake_dir / f"raw/rest/{name}.json").stat().st_mtime
        return dt.datetime.fromtimestamp(mtime, dt.UTC)

    def fetched_at(contract) -> set[dt.datetime]:
        return {row["fetched_at"] for row in platform.warehouse.read(contract).to_pylist()}

    assert run(platform, REST).success
    (first,) = fetched_at(USERS)
    assert abs(first - written("users")) < dt.timedelta(milliseconds=1)
    assert run(platform, ["users", "posts"]).success
    assert fetched_at(USERS) == {first}
    (posts,) = fetched_at(POSTS)
    assert abs(posts - written("posts")) < dt.timedelta(milliseconds=1)
    assert run(platform, ["raw_users", "users"]).success
    (refetched,) = fetched_at(USERS)
    assert refetched > first


def test_a_failed_source_leaves_the_previous_data(platform):
    assert run(platform, REST).success
    before = platform.warehouse.read(USERS)
    raw_before = (platform.lake_dir / "raw/rest/users.json").read_bytes()
    httpx.put(f"{platform.source_url}/_faults", json={"down": True}).raise_for_status()
    result = run(platform, REST)
    assert not result.success
    failures = {
        e.step_key: str(e.event_specific_data.error.cause.message)
        for e in result.get_step_failure_events()
    }
    assert "REST API" in failures["raw_users"] and "/users" in failures["raw_users"]
    assert platform.warehouse.read(USERS).equals(before)
    assert (platform.lake_dir / "raw/rest/users.json").read_bytes() == raw_before


def test_countries_partitions_replace_only_their_continent(platform):
    for continent in ("EU", "AS"):
        assert run(platform, COUNTRY_ASSETS, partition_key=continent).success
    wh = platform.warehouse
    rows = wh.read(COUNTRIES).to_pylist()
    assert {r["continent_code"] for r in rows} == {"EU", "AS"}
    germany = next(r for r in rows if r["code"] == "DE")
    assert germany["name"] == "Germany" and germany["capital"] == "Berlin"
    assert {"code": "de", "name": "German"} in json.loads(germany["languages"])
    snapshot = wh.read(COUNTRIES, ["EU", "AS"]).drop_columns(["fetched_at"])
    assert run(platform, COUNTRY_ASSETS, partition_key="EU").success
    assert wh.read(COUNTRIES, ["EU", "AS"]).drop_columns(["fetched_at"]).equals(snapshot)


def test_every_continent_gives_every_country(platform):
    for continent in CONTINENTS:
        assert run(platform, COUNTRY_ASSETS, partition_key=continent).success
    assert 240 <= platform.warehouse.count(COUNTRIES) <= 260


def test_sales_range_in_one_run_equals_day_by_day_runs(platform):
    wh = platform.warehouse
    result = run(platform, SALES, days=DAYS)
    assert result.success
    # One run wrote all three days.
    assert {e.partition for e in result.get_asset_materialization_events()} == set(DAYS)
    tables = (SALES_ORDERS, SALES_REJECTS, SALES_DAILY)
    in_one_run = {t.name: wh.read(t) for t in tables}
    with wh.transaction() as conn:
        for t in tables:
            conn.execute(f"DROP TABLE {t.name}")
    wh = platform.warehouse  # forget which tables were ensured
    for day in DAYS:
        assert run(platform, SALES, partition_key=day).success
    for t in tables:
        assert wh.read(t).equals(in_one_run[t.name]), t.name


def test_thirty_days_in_one_run_equal_thirty_single_day_runs(platform):
    from datetime import timedelta

    from sample_sources.sales import write_drops

    write_drops(platform.landing_dir, date(2024, 4, 1), 30, 1500)
    days = [(date(2024, 4, 1) + timedelta(days=i)).isoformat() for i in range(30)]
    wh = platform.warehouse
    assert run(platform, SALES, days=days).success
    tables = (SALES_ORDERS, SALES_REJECTS, SALES_DAILY)
    in_one_run = {t.name: wh.read(t, days) for t in tables}
    assert in_one_run["sales_daily"].num_rows == 30
    with wh.transaction() as conn:
        for t in tables:
            conn.execute(f"DROP TABLE {t.name}")
    wh = platform.warehouse
    for day in days:
        assert run(platform, SALES, partition_key=day).success
    for t in tables:
        assert wh.read(t, days).equals(in_one_run[t.name]), t.name


def test_sales_rerun_is_idempotent_and_accounts_for_every_row(platform):
    result = run(platform, SALES, days=DAYS)
    assert result.success
    wh = platform.warehouse
    orders, rejects = wh.read(SALES_ORDERS), wh.read(SALES_REJECTS)
    # Each day's materialization accounts for that day's lines.
    days = [
        {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "sales_orders"
    ]
    rows_read = sum(d["rows_read"] for d in days)
    assert rows_read == 1000  # the three drops hold 1,000 data lines
    duplicates = sum(d["duplicates"] for d in days)
    assert orders.num_rows + rejects.num_rows + duplicates == rows_read
    assert [d["dagster/row_count"] for d in days] == [wh.count(SALES_ORDERS, [day]) for day in DAYS]
    assert run(platform, SALES, partition_key="2024-03-02").success
    assert wh.read(SALES_ORDERS).equals(orders)
    assert wh.read(SALES_REJECTS).equals(rejects)


def test_sales_daily_sums_the_orders(platform):
    assert run(platform, SALES, days=DAYS).success
    wh = platform.warehouse
    orders = wh.read(SALES_ORDERS).to_pylist()
    daily = {r["day"].isoformat(): r for r in wh.read(SALES_DAILY).to_pylist()}
    for day in DAYS:
        mine = [o for o in orders if o["order_date"] == date.fromisoformat(day)]
        assert daily[day]["orders"] == len(mine)
        assert daily[day]["units"] == sum(o["quantity"] for o in mine)
        assert daily[day]["revenue"] == pytest.approx(sum(o["quantity"] * o["price"] for o in mine))


def test_the_lake_holds_each_day_as_a_delta_partition_and_a_csv_export(platform):
    assert run(platform, SALES, days=DAYS).success
    wh = platform.warehouse
    table = DeltaTable(str(platform.lake_dir / "delta/sales_orders"))
    # One commit per day of the range: the table's versions 0..2.
    assert table.version() == len(DAYS) - 1
    lake = table.to_pyarrow_table().sort_by(
        [("order_date", "ascending"), ("order_id", "ascending")]
    )
    assert lake.select(SALES_ORDERS.column_names).equals(wh.read(SALES_ORDERS))
    # Hive-style partition folders holding only data files; the day is a column to readers.
    folders = sorted(p.name for p in (platform.lake_dir / "delta/sales_orders").iterdir())
    assert folders == ["_delta_log", *[f"order_date={day}" for day in DAYS]]
    for day in DAYS:
        expected = wh.read(SALES_ORDERS, [day])
        csv_dir = platform.lake_dir / "csv/sales_orders" / f"order_date={day}"
        assert len((csv_dir / "part-0.csv").read_text().splitlines()) == expected.num_rows + 1
        # No temporary file is left behind.
        assert [p.name for p in csv_dir.iterdir()] == ["part-0.csv"]


def test_a_missing_drop_fails_naming_the_day_and_keeps_the_data(platform):
    assert run(platform, SALES, days=DAYS).success
    before = platform.warehouse.read(SALES_ORDERS)
    (platform.landing_dir / "sales" / "sales_2024-03-02.csv").unlink()
    result = run(platform, SALES, days=DAYS)
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error
    assert "no sales drop" in failure.message and "2024-03-02" in failure.message
    assert platform.warehouse.read(SALES_ORDERS).equals(before)


def test_records_unify_every_source(platform):
    assert run(platform, REST).success
    assert run(platform, COUNTRY_ASSETS, partition_key="OC").success
    assert run(platform, SALES, partition_key="2024-03-01").success
    result = run(platform, ["records"])
    assert result.success
    wh = platform.warehouse
    counts = dict(wh.query("SELECT source, COUNT(*) FROM records GROUP BY source"))
    assert counts == {
        "users": 10,
        "posts": 100,
        "countries": wh.count(COUNTRIES),
        "sales": wh.count(SALES_ORDERS),
    }
    rows = {(r["source"], r["source_id"]): r for r in wh.read(RECORDS).to_pylist()}
    leanne = rows[("users", "1")]
    assert leanne["name"] == rest.USERS[0]["name"] and leanne["value"] == rest.USERS[0]["email"]
    order = next(r for k, r in rows.items() if k[0] == "sales")
    assert order["created_at"].date() == date(2024, 3, 1)
    assert float(order["value"]) > 0


def test_records_that_break_the_contract_go_to_api_rejects(platform):
    wh = platform.warehouse
    raw = [{"id": 1, "userId": 1}, {"id": "x", "userId": 1}, {"id": 3, "userId": None}]
    rows = [
        {
            "id": r["id"],
            "user_id": r["userId"],
            "title": "t",
            "body": "b",
            "fetched_at": "2024-03-01T00:00:00+00:00",
        }
        for r in raw
    ]
    table, rejected = load_records(wh, POSTS, rows, raw, scope="posts")
    assert table.num_rows == 1 and rejected == 2
    rejects = wh.read(API_REJECTS).to_pylist()
    assert [(r["position"], r["reason"]) for r in rejects] == [
        (1, "id: 'x' is not a valid int"),
        (2, "user_id: required, got None"),
    ]
    assert json.loads(rejects[0]["raw"]) == raw[1]
