"""Push ingestion's Dagster side: landing rows → landing sensor → hourly logs, exports, level
counts and checks; pushed users merged into `users` and `records`. On SQLite and PostgreSQL."""

import datetime as dt
import json
import time
from collections import Counter
from pathlib import Path

from dagster import (
    AssetKey,
    DagsterInstance,
    Definitions,
    build_sensor_context,
    evaluate_automation_conditions,
    materialize,
)
from deltalake import DeltaTable

from core.contracts import Contract
from core.contracts.datasets import (
    LANDING_LOGS,
    LANDING_USERS,
    LOG_LEVELS_HOURLY,
    LOGS,
    QUARANTINE,
    RECORDS,
    USERS,
    log_hour,
)
from core.sql import quote, timestamp_text
from core.warehouse import Warehouse, open_warehouse
from orchestration import definitions
from orchestration.defs.logs.sensors import (
    LandingCursor,
    collapse,
    landed_hours,
    plan_logs,
)
from orchestration.resources import resources_from_env
from orchestration.resources.storage import LakeResource, WarehouseResource
from orchestration.run_tags import RANGE_END_TAG, RANGE_START_TAG
from sample_sources import rest
from tests.serving_fixtures import client_for

defs = definitions.defs()
all_assets, all_checks, JOBS = defs.assets, defs.asset_checks, defs.jobs
landing_sensor = defs.get_sensor_def("landing_sensor")

T0 = dt.datetime(2024, 3, 1, 10, 0, tzinfo=dt.UTC)


def at(hours: float, minutes: float = 0) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours, minutes=minutes)


# -- the landing tables, written as the serving API writes them --------------------------------


def append(wh: Warehouse, contract: Contract, records: list[dict]) -> list[int]:
    """Append rows with ids max(id)+1.. and `received_at` now; returns their ids. (The serving
    API owns the real write path; this is the smallest stand-in for the tests.)"""
    wh.ensure_table(contract)
    p = wh.dialect.placeholder
    with wh.transaction() as conn:
        (top,) = conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {contract.name}").fetchone()
        ids = list(range(top + 1, top + 1 + len(records)))
        rows = [
            {"id": i, "received_at": timestamp_text(dt.datetime.now(dt.UTC))} | r
            for i, r in zip(ids, records, strict=True)
        ]
        names = contract.column_names
        conn.cursor().executemany(
            f"INSERT INTO {contract.name} ({', '.join(quote(n) for n in names)}) "
            f"VALUES ({', '.join([p] * len(names))})",
            [[r.get(n) for n in names] for r in rows],
        )
    return ids


def log(
    when: dt.datetime,
    event_id: str | None = None,
    service: str = "api",
    severity: str = "INFO",
    message: str = "hello",
) -> dict:
    return {
        "event_id": event_id,
        "timestamp": timestamp_text(when),
        "hour": log_hour(when),
        "service": service,
        "severity": severity,
        "message": message,
        "attributes": json.dumps({"at": when.isoformat()}),
    }


def pushed_user(email: str, name: str = "Pushed Person", role: str = "admin") -> dict:
    return {
        "name": name,
        "email": email,
        "role": role,
        "username": email.split("@")[0],
        "phone": None,
        "website": None,
        "city": "Lisbon",
        "company_name": "Acme",
    }


# -- the sensor -------------------------------------------------------------------------------


def tick(warehouse_url: str, cursor: str | None = None, instance=None):
    """One evaluation of the landing sensor, its requests resolved against the code location's
    jobs as the daemon resolves them."""
    context = build_sensor_context(
        cursor=cursor,
        instance=instance or DagsterInstance.ephemeral(),
        resources={"warehouse": WarehouseResource(url=warehouse_url)},
        definitions=defs,
    )
    return landing_sensor.evaluate_tick(context)


def requested(result) -> list[tuple[str, str, str]]:
    """(job, first hour, last hour) of each request; users requests have no hours."""
    out = []
    for r in result.run_requests:
        if r.partition_key:
            out.append((r.job_name, r.partition_key, r.partition_key))
        else:
            out.append((r.job_name, r.tags.get(RANGE_START_TAG, ""), r.tags.get(RANGE_END_TAG, "")))
    return out


def test_the_sensor_requests_each_landed_row_once_across_ticks_and_restarts(warehouse_url):
    wh = open_warehouse(warehouse_url)
    # Before the serving API created its tables: nothing to do, nothing fails.
    empty = tick(warehouse_url)
    assert not empty.run_requests and empty.skip_message
    assert LandingCursor.parse(empty.cursor) == LandingCursor(0, 0)

    append(wh, LANDING_LOGS, [log(at(0)), log(at(0, 30)), log(at(1)), log(at(3)), log(at(1, 5))])
    first = tick(warehouse_url, empty.cursor)
    # Hours 10 and 11 are contiguous: one range run; 13 on its own.
    assert requested(first) == [
        ("logs_job", "2024-03-01-10:00", "2024-03-01-11:00"),
        ("logs_job", "2024-03-01-13:00", "2024-03-01-13:00"),
    ]
    assert LandingCursor.parse(first.cursor).logs == 5

    # The same tick evaluated again (its cursor was never stored): the same run keys, which
    # Dagster launches once.
    again = tick(warehouse_url, empty.cursor)
    assert [r.run_key for r in again.run_requests] == [r.run_key for r in first.run_requests]

    # A restart resumes from the stored cursor: nothing is requested twice.
    restarted = tick(warehouse_url, first.cursor, instance=DagsterInstance.ephemeral())
    assert not restarted.run_requests and restarted.cursor == first.cursor

    # New rows, one for an hour already run: that hour runs again, under a new key.
    append(wh, LANDING_LOGS, [log(at(1, 50)), log(at(5))])
    append(wh, LANDING_USERS, [pushed_user("new@example.org")])
    second = tick(warehouse_url, restarted.cursor)
    assert requested(second) == [
        ("logs_job", "2024-03-01-11:00", "2024-03-01-11:00"),
        ("logs_job", "2024-03-01-15:00", "2024-03-01-15:00"),
        ("push_users_job", "", ""),
    ]
    assert second.run_requests[0].run_key not in {r.run_key for r in first.run_requests}
    assert LandingCursor.parse(second.cursor) == LandingCursor(logs=7, users=1)
    assert not tick(warehouse_url, second.cursor).run_requests

    # Every landed hour was requested, each landing row by exactly one tick's mark.
    landed = {h for (h,) in wh.query("SELECT DISTINCT hour FROM landing_logs")}
    hours_run = {
        hour
        for result in (first, second)
        for job, a, b in requested(result)
        if job == "logs_job"
        for hour in (a, b)
    }
    assert hours_run == landed


def test_reads_are_bounded_and_resume_where_the_batch_ended(warehouse_url):
    wh = open_warehouse(warehouse_url)
    ids = append(wh, LANDING_LOGS, [log(at(h)) for h in (0, 0, 1, 2, 2, 2, 4)])
    first_hour, last_hour = at(0), at(24 * 365 * 3)
    cursor, runs = 0, []
    while batch := landed_hours(wh, cursor, limit=3):
        assert sum(h.rows for h in batch) <= 3
        plan = plan_logs(batch, cursor, first_hour, last_hour)
        runs += plan.ranges
        cursor = plan.high_water
    assert cursor == ids[-1]
    assert runs == [
        ("2024-03-01-10:00", "2024-03-01-11:00"),
        ("2024-03-01-12:00", "2024-03-01-12:00"),
        ("2024-03-01-14:00", "2024-03-01-14:00"),
    ]


def wait_clear_of_the_hour_boundary() -> None:
    """The sensor reads the clock itself: keep the test's 'next hour' from becoming the
    current one between the two reads."""
    now = dt.datetime.now(dt.UTC)
    to_next = 3600 - (now.minute * 60 + now.second)
    if to_next < 10:
        time.sleep(to_next + 1)


def test_a_row_of_the_next_hour_holds_the_cursor_and_impossible_hours_do_not(warehouse_url):
    wh = open_warehouse(warehouse_url)
    wait_clear_of_the_hour_boundary()
    now = dt.datetime.now(dt.UTC)
    ids = append(
        wh,
        LANDING_LOGS,
        [
            log(at(0)),
            log(dt.datetime(2023, 6, 1, tzinfo=dt.UTC)),  # before LOGS_START_DATE
            log(now + dt.timedelta(days=30)),  # far ahead: never waited for
            log(at(1)),
            log(now + dt.timedelta(hours=1)),  # a client clock a little ahead
            log(at(2)),
        ],
    )
    result = tick(warehouse_url)
    # Up to the row of the next hour: the hours before are requested, the rest waits.
    assert requested(result) == [("logs_job", "2024-03-01-10:00", "2024-03-01-11:00")]
    assert LandingCursor.parse(result.cursor).logs == ids[3]
    # The held rows are not lost, and the same rows are not requested twice meanwhile.
    waiting = tick(warehouse_url, result.cursor)
    assert not waiting.run_requests and "waiting for hour" in waiting.skip_message
    assert waiting.cursor == result.cursor


def test_collapse_bridges_the_smallest_gaps_beyond_the_run_limit():
    hours = [at(h) for h in (0, 1, 2, 4, 10, 11, 30)]
    assert collapse(hours, 10) == [
        (at(0), at(2)),
        (at(4), at(4)),
        (at(10), at(11)),
        (at(30), at(30)),
    ]
    # Two runs at most: the one-hour gap (2→4) and the five-hour one (4→10) are bridged.
    assert collapse(hours, 2) == [(at(0), at(11)), (at(30), at(30))]


# -- the assets -------------------------------------------------------------------------------


class Pipeline:
    """The code location's assets, checks and jobs on a temporary warehouse and lake, run
    in-process on one ephemeral instance, the way the daemon runs the sensor's requests."""

    def __init__(self, warehouse_url: str, lake_dir: Path, **resources) -> None:
        self.warehouse_url, self.lake_dir = warehouse_url, lake_dir
        # Every resource the code location needs; these tests use the warehouse and the lake.
        self.resources = (
            resources_from_env()
            | {
                "warehouse": WarehouseResource(url=warehouse_url),
                "lake": LakeResource(url=str(lake_dir)),
            }
            | resources
        )
        self.defs = Definitions(
            assets=all_assets,
            asset_checks=all_checks,
            jobs=JOBS,
            resources=self.resources,
        )
        self.instance = DagsterInstance.ephemeral()
        self.cursor: str | None = None

    @property
    def wh(self) -> Warehouse:
        return open_warehouse(self.warehouse_url)

    def sense_and_run(self) -> list:
        """One sensor tick, then every run it requested; returns the runs' results."""
        result = tick(self.warehouse_url, self.cursor, self.instance)
        self.cursor = result.cursor
        results = []
        for request in result.run_requests:
            job = self.defs.resolve_job_def(request.job_name)
            results.append(
                job.execute_in_process(
                    instance=self.instance,
                    partition_key=request.partition_key,
                    tags=dict(request.tags),
                    raise_on_error=False,
                )
            )
        return results


def check_results(results) -> dict[tuple[str, str], bool]:
    return {
        (e.asset_key.to_user_string(), e.check_name): e.passed
        for r in results
        for e in r.get_asset_check_evaluations()
    }


def test_landed_logs_become_deduplicated_hours_exports_and_counts(warehouse_url, tmp_path):
    pipe = Pipeline(warehouse_url, tmp_path / "lake")
    ids = append(
        pipe.wh,
        LANDING_LOGS,
        [
            log(at(0, 1), "e1", message="first e1"),
            log(at(0, 2), "e2", severity="ERROR"),
            log(at(0, 3), "e1", message="e1 sent again"),  # a retried batch: dropped
            log(at(0, 4)),  # no event id: landing-<id>
            log(at(0, 5), service="worker", severity="WARN"),
            log(at(1, 0), "e3", service="worker"),
            log(at(1, 1), "e3", service="worker"),
        ],
    )
    results = pipe.sense_and_run()
    assert [r.success for r in results] == [True]
    hours = ["2024-03-01-10:00", "2024-03-01-11:00"]
    # One run wrote both hours of all three assets.
    assert {
        (e.asset_key.to_user_string(), e.partition)
        for e in results[0].get_asset_materialization_events()
    } == {
        (a, h)
        for a in ("logs", "lake/logs", "logs_export", "log_levels_hourly", "lake/log_levels_hourly")
        for h in hours
    }
    checks = check_results(results)
    assert set(checks) >= {
        ("logs", "key_unique"),
        ("logs", "required_not_null"),
        ("logs", "severity_allowed"),
        ("log_levels_hourly", "key_unique"),
        ("log_levels_hourly", "severity_allowed"),
    }
    assert all(checks.values()), checks

    wh = pipe.wh
    rows = wh.read(LOGS, order_by=["landing_id"]).to_pylist()
    assert [(r["event_id"], r["landing_id"], r["hour"]) for r in rows] == [
        ("e1", ids[0], hours[0]),
        ("e2", ids[1], hours[0]),
        (f"landing-{ids[3]}", ids[3], hours[0]),
        (f"landing-{ids[4]}", ids[4], hours[0]),
        ("e3", ids[5], hours[1]),
    ]
    assert rows[0]["message"] == "first e1" and rows[0]["timestamp"] == at(0, 1)
    assert json.loads(rows[0]["attributes"]) == {"at": at(0, 1).isoformat()}
    # Each hour's materialization counts that hour's landing rows and repeats.
    meta = Counter()
    for e in results[0].get_asset_materialization_events():
        if e.asset_key == AssetKey("logs"):
            for k in ("landing_rows", "repeated_event_ids"):
                meta[k] += e.materialization.metadata[k].value
    assert meta["landing_rows"] == 7 and meta["repeated_event_ids"] == 2

    levels = {
        (r["hour"], r["service"], r["severity"]): r["count"]
        for r in wh.read(LOG_LEVELS_HOURLY).to_pylist()
    }
    assert levels == Counter((r["hour"], r["service"], r["severity"]) for r in rows)
    assert levels[(hours[0], "api", "INFO")] == 2

    # The lake's table holds the hours by day (a path segment without `:`), in event-time order;
    # the CSV exports are one per hour.
    table = DeltaTable(str(pipe.lake_dir / "delta/logs"))
    assert [p.name for p in (pipe.lake_dir / "delta/logs").iterdir() if p.name != "_delta_log"] == [
        "date=2024-03-01"
    ]
    for hour in hours:
        expected = wh.read(LOGS, [hour], order_by=["timestamp", "landing_id"])
        lake = table.to_pyarrow_table(filters=[("hour", "=", hour)])
        assert lake.drop_columns(["date"]).equals(expected)
        assert set(lake["date"].to_pylist()) == {dt.date(2024, 3, 1)}
        folder = pipe.lake_dir / "csv" / "logs" / f"hour={hour[:10]}T{hour[11:13]}"
        assert [p.name for p in folder.iterdir()] == ["part-0.csv"]
        csv = folder / "part-0.csv"
        assert len(csv.read_text().splitlines()) == expected.num_rows + 1

    # One ledger row per hour and table, so the serving API's versions move hour by hour.
    ledger = wh.query(
        "SELECT asset, partition, rows FROM partition_ledger WHERE asset IN "
        "('logs', 'log_levels_hourly') ORDER BY asset, partition"
    )
    assert [tuple(r) for r in ledger] == [
        ("log_levels_hourly", hours[0], 3),
        ("log_levels_hourly", hours[1], 1),
        ("logs", hours[0], 4),
        ("logs", hours[1], 1),
    ]

    # More rows for hour 11 later: that hour alone is rebuilt, from all its landing rows.
    before = wh.read(LOGS, [hours[0]])
    append(wh, LANDING_LOGS, [log(at(1, 30), "e4"), log(at(1, 31), "e3")])
    again = pipe.sense_and_run()
    assert [r.success for r in again] == [True]
    assert {e.partition for e in again[0].get_asset_materialization_events()} == {hours[1]}
    assert wh.read(LOGS, [hours[0]]).equals(before)
    assert [r["event_id"] for r in wh.read(LOGS, [hours[1]]).to_pylist()] == ["e3", "e4"]
    assert not pipe.sense_and_run()


def test_exports_and_counts_follow_a_logs_run_by_automation(warehouse_url, tmp_path):
    pipe = Pipeline(warehouse_url, tmp_path / "lake")
    append(pipe.wh, LANDING_LOGS, [log(at(0)), log(at(5))])
    start = evaluate_automation_conditions(defs=defs, instance=pipe.instance)
    # The sensor's run does all three assets: nothing is left for automation to do.
    assert all(r.success for r in pipe.sense_and_run())
    after_job = evaluate_automation_conditions(
        defs=defs, instance=pipe.instance, cursor=start.cursor
    )
    assert after_job.total_requested == 0
    # `logs` alone (say, from the UI, which runs its checks with it): its exports and counts
    # follow once its blocking checks passed.
    assert materialize(
        [*all_assets, *all_checks],
        selection=["logs"],
        partition_key="2024-03-01-15:00",
        resources=pipe.resources,
        instance=pipe.instance,
    ).success
    followed = evaluate_automation_conditions(
        defs=defs, instance=pipe.instance, cursor=after_job.cursor
    )
    for asset in ("lake/logs", "logs_export", "log_levels_hourly", "lake/log_levels_hourly"):
        key = AssetKey.from_user_string(asset)
        assert followed.get_requested_partitions(key) == {"2024-03-01-15:00"}, asset


def test_an_event_id_repeated_across_hours_is_flagged_without_blocking(warehouse_url, tmp_path):
    pipe = Pipeline(warehouse_url, tmp_path / "lake")
    append(pipe.wh, LANDING_LOGS, [log(at(0), "same"), log(at(1), "same")])
    [result] = pipe.sense_and_run()
    assert result.success
    unique = next(
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == AssetKey("logs") and e.check_name == "key_unique"
    )
    assert not unique.passed and unique.metadata["examples"].value == [["same"]]
    checks = check_results([result])
    assert checks[("logs", "severity_allowed")] and checks[("logs", "required_not_null")]
    # The lake, the exports and counts still ran.
    assert (pipe.lake_dir / "csv/logs/hour=2024-03-01T11/part-0.csv").exists()
    lake = DeltaTable(str(pipe.lake_dir / "delta/logs")).to_pyarrow_table()
    assert sorted(lake["event_id"].to_pylist()) == ["same", "same"]


def test_an_unknown_severity_keeps_its_hour_unpublished_and_the_others_go_on(
    warehouse_url, tmp_path
):
    pipe = Pipeline(warehouse_url, tmp_path / "lake")
    # Hour 10 holds a severity the ingest API would have refused; hour 11 is fine.
    append(pipe.wh, LANDING_LOGS, [log(at(0), severity="TRACE"), log(at(0)), log(at(1))])
    [result] = pipe.sense_and_run()
    assert not result.success
    failed = next(
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == AssetKey("logs")
        and e.check_name == "severity_allowed"
        and e.partition == "2024-03-01-10:00"
    )
    assert not failed.passed and failed.metadata["unexpected"].value == {"TRACE": 1}
    # The bad hour's version was never published, nor anything built on it; the good hour was.
    materialized = {
        (e.asset_key.to_user_string(), e.partition)
        for e in result.get_asset_materialization_events()
    }
    assert materialized == {("logs", "2024-03-01-11:00")}
    assert pipe.wh.count(LOGS, ["2024-03-01-10:00"]) == 0
    assert pipe.wh.count(LOGS, ["2024-03-01-11:00"]) == 1
    assert not (pipe.lake_dir / "delta" / "logs").exists()
    kept = pipe.wh.read(QUARANTINE).to_pylist()
    assert [(r["partition"], r["check_name"]) for r in kept] == [
        ("2024-03-01-10:00", "severity_allowed")
    ]
    assert json.loads(kept[0]["row"])["severity"] == "TRACE"
    [failure] = result.get_step_failure_events()
    assert "2024-03-01-10:00 not published, failed: severity_allowed (1 row(s) with a severity" in (
        failure.event_specific_data.error.message
    )


# -- pushed users -----------------------------------------------------------------------------


def users_metadata(result) -> dict:
    [event] = [
        e for e in result.get_asset_materialization_events() if e.asset_key == AssetKey("users")
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_pushed_users_are_merged_and_shadowed_ones_counted(platform):
    pipe = Pipeline(platform.warehouse_url, platform.lake_dir, **platform.resources())
    api_email = rest.USERS[0]["email"].lower()
    # Pushed before any REST snapshot: merged alone, the API part waits for its snapshot.
    [first_id] = append(pipe.wh, LANDING_USERS, [pushed_user(api_email, name="Early Bird")])
    [alone] = pipe.sense_and_run()
    assert alone.success
    assert users_metadata(alone)["push_rows"] == 1 and users_metadata(alone)["api_rows"] == 0

    # The REST snapshot arrives: the API user takes the email back, the pushed one is shadowed.
    rest_run = materialize(
        all_assets,
        selection=["raw_users", "users"],
        resources=pipe.resources,
        instance=pipe.instance,
    )
    assert rest_run.success
    meta = users_metadata(rest_run)
    assert (meta["api_rows"], meta["push_rows"], meta["push_shadowed"]) == (10, 0, 1)

    ids = append(
        pipe.wh,
        LANDING_USERS,
        [pushed_user("ada@example.org", name="Ada"), pushed_user("bo@example.org", name="Bo")],
    )
    [merged] = pipe.sense_and_run()
    assert merged.success
    meta = users_metadata(merged)
    assert (meta["api_rows"], meta["push_rows"], meta["push_shadowed"]) == (10, 2, 1)
    wh = pipe.wh
    users = {(u["source"], u["id"]): u for u in wh.read(USERS).to_pylist()}
    assert len(users) == 12
    ada = users[("push", ids[0])]
    landed = {r["id"]: r for r in wh.read(LANDING_USERS).to_pylist()}
    assert (ada["email"], ada["role"], ada["username"], ada["city"]) == (
        "ada@example.org",
        "admin",
        "ada",
        "Lisbon",
    )
    assert ada["fetched_at"] == landed[ids[0]]["received_at"]
    assert users[("api", 1)]["email"] == api_email and users[("api", 1)]["role"] is None
    # The shadowed one is still in landing: nothing dropped.
    assert landed[first_id]["email"] == api_email

    assert materialize(
        all_assets, selection=["records"], resources=pipe.resources, instance=pipe.instance
    ).success
    ids_by_source = [r["source_id"] for r in wh.read(RECORDS).to_pylist() if r["source"] == "users"]
    assert sorted(ids_by_source) == sorted(
        [str(u["id"]) for u in rest.USERS] + [f"push-{i}" for i in ids]
    )

    # Both sources number from 1: `uid` tells their users apart, as records names them.
    assert ids[0] in {u["id"] for u in rest.USERS}
    assert (ada["id"], ada["uid"]) == (ids[0], f"push-{ids[0]}")
    assert users[("api", ids[0])]["uid"] == str(ids[0])
    assert sorted(u["uid"] for u in users.values()) == sorted(ids_by_source)
    with client_for(platform.warehouse_url) as client:
        listed = client.get("/users", params={"limit": 100}).json()["data"]
        data = client.get("/data", params={"source": "users", "page_size": 100}).json()["data"]
        pushed = client.get("/users/ada@example.org").json()
    assert len({u["uid"] for u in listed}) == len(listed) == 12
    assert sorted(u["uid"] for u in listed) == sorted(r["source_id"] for r in data)
    assert (pushed["source"], pushed["id"], pushed["uid"]) == ("push", ids[0], f"push-{ids[0]}")


def test_a_users_table_from_before_uid_gets_it_on_the_next_run(platform):
    pipe = Pipeline(platform.warehouse_url, platform.lake_dir, **platform.resources())
    wh = pipe.wh
    ddl = ", ".join(wh.dialect.column_ddl(c) for c in USERS.columns if c.name != "uid")
    with wh.transaction() as conn:
        conn.execute(f"CREATE TABLE users ({ddl}, PRIMARY KEY (source, id))")
        conn.execute(
            "INSERT INTO users (id, name, username, email, source, fetched_at) VALUES "
            "(99, 'Gone', 'gone', 'gone@example.org', 'api', '2024-03-01T00:00:00Z'), "
            "(1, 'Old push', 'old', 'old@example.org', 'push', '2024-03-01T00:00:00Z')"
        )
    run = materialize(
        all_assets,
        selection=["raw_users", "users"],
        resources=pipe.resources,
        instance=pipe.instance,
    )
    assert run.success
    uids = {(u["source"], u["id"]): u["uid"] for u in wh.read(USERS).to_pylist()}
    # The API user no longer served keeps its row, now with its uid; push rows are rebuilt.
    assert uids[("api", 99)] == "99" and uids[("api", 1)] == "1"
    assert ("push", 1) not in uids and len(uids) == len(rest.USERS) + 1
