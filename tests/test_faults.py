"""The fault matrix (docs/RELIABILITY.md): each row a fault injected into a real run.

The sources are the sample sources over loopback with their fault switches (`/_faults`), or a
stand-in HTTP server on loopback where a switch cannot produce the answer (a GraphQL `errors`
body, a drifted payload); the warehouse is a real SQLite file or PostgreSQL database; the runs
are real `dagster` materializations. Rows that start processes live in
`test_faults_processes.py`. `RELIABILITY_FULL=1` runs the full-size variants.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest
from dagster import DagsterInstance, Definitions, materialize
from deltalake import DeltaTable

from core.contracts.datasets import (
    API_REJECTS,
    COUNTRIES,
    POSTS,
    SALES_ORDERS,
    SALES_REJECTS,
    USERS,
)
from orchestration import definitions
from orchestration.backfill import SALES_ASSETS
from orchestration.resources.sources import GraphQLResource, RestApiResource
from sample_sources import rest
from sample_sources.sales import HEADER, write_drops

CODE_LOCATION = definitions.defs()
all_assets, all_checks, JOBS = (
    CODE_LOCATION.assets,
    CODE_LOCATION.asset_checks,
    CODE_LOCATION.jobs,
)

REST = ["raw_users", "raw_posts", "users", "posts"]
COUNTRY_ASSETS = ["raw_countries", "countries"]
SALES_CORE = ["raw_sales", "sales_orders", "sales_rejects"]
DAY = "2024-03-01"
# The concurrent-readers row loads a partition this large (1M rows with RELIABILITY_FULL=1).
FULL = os.environ.get("RELIABILITY_FULL") == "1"
BIG_PARTITION_ROWS = 1_000_000 if FULL else 200_000

sqlite_only = pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)


# -- helpers ---------------------------------------------------------------------------------
def run(platform, selection, *, partition_key=None, instance=None, **resources):
    return materialize(
        all_assets,
        selection=selection,
        partition_key=partition_key,
        resources=platform.resources(**resources),
        instance=instance or DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def faults(platform, **switches) -> None:
    httpx.put(f"{platform.source_url}/_faults", json=switches).raise_for_status()


def fault_stats(platform) -> dict:
    return httpx.get(f"{platform.source_url}/_faults").json()["stats"]


def step_failures(result) -> dict[str, str]:
    """Failed steps and the message of the error that failed them."""
    failures = {}
    for event in result.get_step_failure_events():
        error = event.event_specific_data.error
        failures[event.step_key] = (error.cause or error).message
    return failures


def materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def lake_files(root: Path) -> dict[str, bytes]:
    """Every file under the lake (temporary ones included), by relative path."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def unchanged(platform, contract) -> Callable[[], None]:
    """Snapshot a table and the whole lake; the returned check asserts that neither changed."""
    table, lake = platform.warehouse.read(contract), lake_files(platform.lake_dir)

    def check() -> None:
        assert platform.warehouse.read(contract).equals(table)
        assert lake_files(platform.lake_dir) == lake

    return check


def snapshot_tables(platform, contracts) -> dict[str, Any]:
    """The tables' rows without the fetch time, which differs between two runs."""
    wh = platform.warehouse
    tables = {}
    for contract in contracts:
        table = wh.read(contract)
        if "fetched_at" in table.column_names:
            table = table.drop_columns(["fetched_at"])
        tables[contract.name] = table
    return tables


def serve_json(answer: Callable[[str, str, dict[str, list[str]]], Any]) -> Iterator[str]:
    """A loopback HTTP source answering `answer(method, path, query)` as JSON; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            url = urlsplit(self.path)
            body = json.dumps(answer(self.command, url.path, parse_qs(url.query))).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _reply

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def rest_pages(collections: dict[str, list[dict]]):
    """`answer` for `serve_json`: JSONPlaceholder-style collections paged by `_start`/`_limit`."""

    def answer(method: str, path: str, query: dict[str, list[str]]) -> Any:
        records = collections[path]
        start = int(query.get("_start", ["0"])[0])
        limit = int(query.get("_limit", [str(len(records))])[0])
        return records[start : start + limit]

    return answer


# -- 5xx bursts -----------------------------------------------------------------------------
@sqlite_only
def test_bursts_of_5xx_are_ridden_out_with_output_identical_to_a_clean_run(platform, tmp_path):
    # A clean run gives the reference tables and raw files.
    assert run(platform, REST).success
    assert run(platform, COUNTRY_ASSETS, partition_key="EU").success
    contracts = (USERS, POSTS, COUNTRIES, API_REJECTS)
    clean_tables, clean_lake = snapshot_tables(platform, contracts), lake_files(platform.lake_dir)

    # The same runs into an empty warehouse and lake, with 30% of requests answered 5xx.
    platform.warehouse_url = f"sqlite:///{tmp_path / 'faulted.db'}"
    platform.root = tmp_path / "faulted"
    faults(platform, error_rate=0.3, seed=11)
    patient = {
        "max_retries": 8,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "rate_limit_per_s": 0,
    }
    rest_api = RestApiResource(base_url=platform.source_url, page_size=7, **patient)
    graphql_api = GraphQLResource(base_url=f"{platform.source_url}/graphql", **patient)
    instance = DagsterInstance.ephemeral()
    first = run(platform, REST, instance=instance, rest_api=rest_api)
    second = run(
        platform, COUNTRY_ASSETS, partition_key="EU", instance=instance, graphql_api=graphql_api
    )
    assert first.success and second.success
    stats = fault_stats(platform)
    assert stats["by_kind"]["error"] >= 5, stats  # the burst really happened
    retries = [
        entry.user_message
        for result in (first, second)
        for entry in instance.all_logs(result.run_id)
        if entry.dagster_event is None and "; retry " in entry.user_message
    ]
    assert len(retries) == stats["by_kind"]["error"]

    assert snapshot_tables(platform, contracts) == clean_tables
    assert lake_files(platform.lake_dir) == clean_lake


# -- 429 with Retry-After -------------------------------------------------------------------
@sqlite_only
def test_429_waits_as_long_as_retry_after_asks_and_the_run_logs_it(platform):
    faults(platform, rate_limit_rate=0.3, retry_after_s=0.2, seed=1)
    instance = DagsterInstance.ephemeral()
    started = time.monotonic()
    result = run(platform, REST, instance=instance)
    elapsed = time.monotonic() - started
    assert result.success
    limited = fault_stats(platform)["by_kind"]["rate_limit"]
    assert limited >= 1
    waits = [
        entry.user_message
        for entry in instance.all_logs(result.run_id)
        if entry.dagster_event is None and entry.step_key in ("raw_users", "raw_posts")
    ]
    # One warning per 429, with the server's 0.2 s (the jittered backoff is capped at 0.05 s).
    honoured = [m for m in waits if "HTTP 429" in m and "in 0.20s as Retry-After asks" in m]
    assert len(honoured) == limited, waits
    assert all(f"GET {platform.source_url}/" in m for m in honoured)
    # A lower bound only: the run cannot have been quicker than the waits it was asked for.
    assert elapsed >= limited * 0.2
    assert platform.warehouse.count(USERS) == len(rest.USERS)
    assert platform.warehouse.count(POSTS) == len(rest.POSTS)


# -- source down ----------------------------------------------------------------------------
# REST down (warehouse and lake kept, message names the source and the path):
# test_assets.py::test_a_failed_source_leaves_the_previous_data; the client's full URL and
# attempt count: test_sources.py::test_a_source_that_stays_down_fails_naming_source_and_url.
def test_graphql_source_down_fails_after_the_retries_naming_source_and_url(platform):
    assert run(platform, COUNTRY_ASSETS, partition_key="EU").success
    nothing_written = unchanged(platform, COUNTRIES)
    faults(platform, down=True)

    result = run(platform, COUNTRY_ASSETS, partition_key="EU")
    assert not result.success
    failures = step_failures(result)
    assert set(failures) == {"raw_countries"}
    message = failures["raw_countries"]
    assert "GraphQL API" in message and f"POST {platform.source_url}/graphql" in message
    assert "failed after 4 attempts: HTTP 503" in message
    # max_retries=3 in the platform's resources: exactly 4 requests reached the source.
    assert fault_stats(platform)["requests"] == 4
    assert "countries" not in materialized(result)
    nothing_written()


# -- malformed JSON, GraphQL errors ---------------------------------------------------------
@sqlite_only
def test_malformed_json_mid_pagination_fails_clearly_and_writes_nothing(platform):
    assert run(platform, REST).success
    nothing_written = unchanged(platform, POSTS)
    # Seeded so that some pages arrive whole before one stays malformed through its retry.
    faults(platform, malformed_rate=0.5, seed=5)
    flaky = RestApiResource(
        base_url=platform.source_url,
        page_size=7,
        max_retries=1,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
    )
    result = run(platform, ["raw_posts", "posts"], rest_api=flaky)
    assert not result.success
    stats = fault_stats(platform)
    assert stats["requests"] - stats["faults"] >= 2, stats  # pages were read before the failure
    message = step_failures(result)["raw_posts"]
    assert f"GET {platform.source_url}/posts failed after 2 attempts" in message
    assert "invalid JSON body" in message
    assert "posts" not in materialized(result)
    nothing_written()


@pytest.fixture
def graphql_with_errors() -> Iterator[str]:
    """A GraphQL endpoint answering 200 with part of the data and an `errors` list."""
    body = {
        "data": {"countries": [{"code": "DE", "name": "Germany"}, None]},
        "errors": [{"message": "upstream timeout resolving countries", "path": ["countries", 1]}],
    }
    yield from serve_json(lambda method, path, query: body)


@sqlite_only
def test_a_graphql_errors_answer_fails_clearly_and_writes_nothing(platform, graphql_with_errors):
    assert run(platform, COUNTRY_ASSETS, partition_key="EU").success
    nothing_written = unchanged(platform, COUNTRIES)
    result = run(
        platform,
        COUNTRY_ASSETS,
        partition_key="EU",
        graphql_api=GraphQLResource(base_url=graphql_with_errors, max_retries=0),
    )
    assert not result.success
    message = step_failures(result)["raw_countries"]
    assert f"GraphQL API: {graphql_with_errors}" in message
    assert "answered errors: upstream timeout resolving countries" in message
    assert "countries" not in materialized(result)
    nothing_written()


# -- truncated or malformed CSV lines -------------------------------------------------------
# Line numbers of every kind of malformed line, unit level:
# test_cleaning.py::test_malformed_and_blank_lines_keep_exact_line_numbers. Here: a drop as an
# interrupted upload leaves it, through the assets into the warehouse and the lake.
@sqlite_only
def test_truncated_and_malformed_csv_lines_are_rejected_and_the_good_rows_load(platform):
    good = [f"ORD-{n:03d},C{n},Café crème,{n % 5 + 1},2.50,{DAY}" for n in range(1, 41)]
    lines = [HEADER, *good[:9]]
    lines.append("ORD-900,C900,Mug,1,6.25")  # line 11: 5 fields
    lines += good[9:19]
    lines.append("ORD-901,C901,Mug,1,6.25,2024-03-01,extra")  # line 22: 7 fields
    lines += good[19:29]
    lines.append('ORD-902,C902,"Monitor 27""",1,229.00,2024-0')  # line 33: cut-off date
    lines += good[29:]
    data = "\n".join(lines).encode() + b"\nORD-903,C903,Caf\xc3"  # line 45: cut mid-character
    drop = platform.landing_dir / "sales" / f"sales_{DAY}.csv"
    drop.write_bytes(data)

    result = run(platform, SALES_ASSETS, partition_key=DAY)
    assert result.success, step_failures(result)
    wh = platform.warehouse
    orders = wh.read(SALES_ORDERS, [DAY])
    assert orders["order_id"].to_pylist() == [f"ORD-{n:03d}" for n in range(1, 41)]
    assert set(orders["product"].to_pylist()) == {"Café crème"}
    rejects = {r["line"]: r["reason"] for r in wh.read(SALES_REJECTS, [DAY]).to_pylist()}
    assert rejects == {
        11: "malformed line: 5 fields, expected 6",
        22: "malformed line: 7 fields, expected 6",
        33: "unparseable order_date: '2024-0'",
        45: "malformed line: 3 fields, expected 6",
    }
    published = DeltaTable(str(platform.lake_dir / "delta/sales_orders")).to_pyarrow_table()
    assert published.sort_by("order_id").select(orders.column_names).equals(orders)
    export = platform.lake_dir / f"csv/sales_orders/order_date={DAY}/part-0.csv"
    assert len(export.read_text().splitlines()) == 41
    # The raw zone keeps the drop as received, cut-off bytes included.
    raw = platform.lake_dir / f"raw/sales/order_date={DAY}/sales_{DAY}.csv"
    assert raw.read_bytes() == data


def test_bytes_no_text_column_holds_reject_their_line_not_the_drop(platform):
    lines = [f"ORD-{n:02d},C{n},Mug,1,6.25,{DAY}".encode() for n in range(1, 31)]
    lines[9] = b"ORD-10,C10,M\xffg,1,6.25," + DAY.encode()  # line 11: not UTF-8
    lines[19] = b"ORD-20,C20,M\x00g,1,6.25," + DAY.encode()  # line 21: NUL (PostgreSQL refuses it)
    drop = platform.landing_dir / "sales" / f"sales_{DAY}.csv"
    drop.write_bytes(b"\n".join([HEADER.encode(), *lines]) + b"\n")

    result = run(platform, SALES_CORE, partition_key=DAY)
    assert result.success, step_failures(result)
    wh = platform.warehouse
    ids = wh.read(SALES_ORDERS, [DAY])["order_id"].to_pylist()
    assert ids == [f"ORD-{n:02d}" for n in range(1, 31) if n not in (10, 20)]
    rejects = wh.read(SALES_REJECTS, [DAY]).to_pylist()
    assert [(r["line"], r["reason"]) for r in rejects] == [
        (11, "invalid UTF-8 or NUL byte in the line"),
        (21, "invalid UTF-8 or NUL byte in the line"),
    ]


# -- schema drift ---------------------------------------------------------------------------
# A renamed field through a run, blocking the normalized table:
# test_checks.py::test_drift_blocks_the_normalized_table; the difference listed (added,
# missing, retyped): test_checks.py::test_drift_lists_added_missing_and_retyped_fields.
# Here: a type change through a run, with earlier data in place.
@pytest.fixture
def retyped_source() -> Iterator[str]:
    """The REST source, its posts' `userId` now sent as a string."""
    posts = [dict(p, userId=str(p["userId"])) for p in rest.POSTS]
    yield from serve_json(rest_pages({"/users": rest.USERS, "/posts": posts}))


@sqlite_only
def test_a_retyped_field_fails_the_drift_check_and_stops_downstream(platform, retyped_source):
    assert run(platform, REST).success
    before = platform.warehouse.read(POSTS)
    defs = Definitions(
        assets=all_assets,
        asset_checks=all_checks,
        jobs=JOBS,
        resources=platform.resources(
            rest_api=RestApiResource(base_url=retyped_source, page_size=50)
        ),
    )
    result = defs.resolve_job_def("rest_api_job").execute_in_process(
        instance=DagsterInstance.ephemeral(), raise_on_error=False
    )
    assert not result.success
    drift = {
        e.asset_key.to_user_string(): e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "schema_drift"
    }
    assert drift["raw_users"].passed
    assert not drift["raw_posts"].passed
    assert drift["raw_posts"].metadata["retyped"].value == {
        "userId": {"expected": "int", "seen": ["string"]}
    }
    assert "posts" not in materialized(result) and "users" in materialized(result)
    assert platform.warehouse.read(POSTS).equals(before)


# -- concurrent readers while a large partition loads ---------------------------------------
class Readers:
    """Threads counting a partition's rows in a loop, each on its own read connection, noting
    whether the load was in flight (the clean zone's temporary file present) around each read."""

    def __init__(self, connect: Callable[[], Any], sql: str, in_flight: Callable[[], bool]):
        self.connect, self.sql, self.in_flight = connect, sql, in_flight
        self.reads: list[tuple[bool, int, bool]] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(2)]

    def _loop(self) -> None:
        try:
            conn = self.connect()
        except BaseException as exc:
            self.errors.append(exc)
            return
        try:
            while not self._stop.is_set():
                try:
                    before = self.in_flight()
                    count = conn.execute(self.sql, [DAY]).fetchone()[0]
                    self.reads.append((before, count, self.in_flight()))
                    time.sleep(0.005)  # leave the loader its share of the CPU
                except BaseException as exc:
                    self.errors.append(exc)
                    time.sleep(0.01)
        finally:
            conn.close()

    def __enter__(self) -> Readers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)


def read_connection(warehouse_url: str) -> Callable[[], Any]:
    """Connections like the serving API's: read-only, with a busy timeout on SQLite."""
    if warehouse_url.startswith("sqlite"):
        path = Path(warehouse_url.split(":///", 1)[1])

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(
                f"file:{path}?mode=ro", uri=True, timeout=5, check_same_thread=False
            )
            conn.execute("PRAGMA query_only = 1")
            return conn

        return connect
    return lambda: psycopg.connect(warehouse_url, autocommit=True)


def test_concurrent_readers_see_the_old_or_the_new_partition_never_a_mix(platform):
    assert run(platform, SALES_CORE, partition_key=DAY).success
    old = platform.warehouse.count(SALES_ORDERS, [DAY])
    write_drops(platform.landing_dir, date.fromisoformat(DAY), 1, BIG_PARTITION_ROWS, seed=3)
    clean_dir = platform.lake_dir / f"clean/sales_orders/order_date={DAY}"

    def in_flight() -> bool:
        return any(name.endswith(".tmp") for name in os.listdir(clean_dir))

    wh = platform.warehouse
    sql = f"SELECT COUNT(*) FROM sales_orders WHERE order_date = {wh.dialect.placeholder}"
    with Readers(read_connection(platform.warehouse_url), sql, in_flight) as readers:
        result = run(platform, SALES_CORE, partition_key=DAY)
        time.sleep(0.2)  # a few reads after the commit
    assert result.success
    new = wh.count(SALES_ORDERS, [DAY])
    assert new > BIG_PARTITION_ROWS * 0.9 and old < 1000

    assert readers.errors == []
    counts = {count for _, count, _ in readers.reads}
    assert counts <= {old, new}, sorted(counts - {old, new})[:5]
    during = [count for before, count, after in readers.reads if before and after]
    assert old in during, "no read overlapped the load"
    assert new in counts
