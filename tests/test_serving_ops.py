"""Serving on fresh warehouses of each engine: ties and NULLs, health when the database goes
away, run statistics, read-only connections, time limits, CORS, logs, metrics, and the real
process under uvicorn with a graceful shutdown."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

try:  # tests/ as a package or as a plain folder
    from tests.serving_fixtures import client_for, settings_for, write_tie_records
except ModuleNotFoundError:
    from serving_fixtures import client_for, settings_for, write_tie_records

from core.contracts import CONTRACTS
from core.warehouse import open_warehouse
from serving.db import DatabaseUnavailable, QueryTimeout, open_database
from serving.db.sqlite import sqlite_path

ROOT = Path(__file__).resolve().parent.parent


def walk(client: TestClient, path: str, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    query = dict(params)
    while True:
        body = client.get(path, params=query).json()
        rows += body["data"]
        if body["next"] is None:
            return rows
        query = dict(params, cursor=body["next"])


def expected_order(rows: list[dict[str, Any]], sort: str | None) -> list[dict[str, Any]]:
    """The API's order: the sort column with NULL as the largest value, then the key, both in
    the sort's direction."""
    pk = lambda r: (r["source"], r["source_id"])  # noqa: E731
    if sort is None:
        return sorted(rows, key=pk)
    col, desc = sort.lstrip("-"), sort.startswith("-")
    return sorted(rows, key=lambda r: (r[col] is None, r[col] or "", pk(r)), reverse=desc)


@pytest.mark.parametrize("limit", [3, 50])
def test_cursor_walk_with_ties_and_nulls(warehouse_url: str, limit: int) -> None:
    rows = write_tie_records(warehouse_url, n=150)
    assert sum(r["value"] is None for r in rows) > 20 and sum(r["created_at"] is None for r in rows)
    with client_for(warehouse_url) as client:
        for sort in (None, "value", "-value", "created_at", "-created_at", "name", "-source"):
            params = {"limit": limit} | ({"sort": sort} if sort else {})
            got = walk(client, "/data", **params)
            assert len(got) == len(rows), sort
            assert len({(r["source"], r["source_id"]) for r in got}) == len(rows), sort
            assert got == expected_order(rows, sort), sort
        nulls = walk(client, "/data", value__isnull="true", sort="-created_at", limit=limit)
        assert nulls == expected_order([r for r in rows if r["value"] is None], "-created_at")


def test_etag_follows_the_last_write(warehouse_url: str) -> None:
    write_tie_records(warehouse_url, n=20)
    with client_for(warehouse_url, version_refresh_ms=0) as client:
        first = client.get("/data", params={"limit": 5})
        etag = first.headers["etag"]
        assert (
            client.get("/data", params={"limit": 5}, headers={"If-None-Match": etag}).status_code
            == 304
        )
        time.sleep(0.01)
        write_tie_records(warehouse_url, n=30, seed=8)
        after = client.get("/data", params={"limit": 5}, headers={"If-None-Match": etag})
        assert after.status_code == 200 and after.headers["etag"] != etag
        total = open_warehouse(warehouse_url).count(CONTRACTS["records"])
        assert total > 20 and client.get("/data").json()["total"] == total


def _kill_database(url: str) -> None:
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    admin = url.rsplit("/", 1)[0] + "/postgres"
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_health_is_503_when_the_warehouse_is_gone(warehouse_url: str) -> None:
    write_tie_records(warehouse_url, n=10)
    with client_for(warehouse_url, version_refresh_ms=0, pool_timeout_ms=1000) as client:
        ok = client.get("/health")
        assert ok.status_code == 200, ok.text
        body = ok.json()
        assert body["status"] == "ok" and body["database"]["ok"] is True
        assert body["tables"]["records"]["stale"] is False and body["last_run"] is None
        _kill_database(warehouse_url)
        down = client.get("/health")
        assert down.status_code == 503, down.text
        assert down.json()["status"] == "unavailable" and down.json()["database"]["ok"] is False
        data = client.get("/data", params={"limit": 1})
        assert data.status_code == 503 and data.json()["error"]["code"] == "warehouse_unavailable"
        assert client.get("/ping").status_code == 200


def test_health_is_503_when_the_sqlite_file_does_not_exist_yet(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing.db'}"
    with client_for(url, version_refresh_ms=0) as client:
        assert client.get("/health").status_code == 503
        assert client.get("/users").status_code == 503
        write_tie_records(url, n=5)
        assert client.get("/health").status_code == 200
        assert len(client.get("/data").json()["data"]) == 5


def test_health_on_a_fresh_install_says_no_run_has_written_yet(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    with client_for(f"sqlite:///{path}", version_refresh_ms=0) as client:
        missing = client.get("/health")
        assert missing.status_code == 503
        assert missing.json()["status"] == "unavailable"
        assert missing.json()["message"] == (
            f"the warehouse cannot be reached: the warehouse file {path} does not exist: "
            "a pipeline run or a push creates it"
        )


def test_health_and_tables_before_and_after_the_first_run(warehouse_url: str) -> None:
    key = {"X-API-Key": "k"}
    log = {"timestamp": "2024-03-01T10:00:00Z", "service": "a", "severity": "INFO", "message": "m"}
    if warehouse_url.startswith("sqlite"):  # an empty database, as PostgreSQL's starts
        sqlite3.connect(sqlite_path(warehouse_url)).close()
    with client_for(warehouse_url, version_refresh_ms=0, api_keys="k") as client:
        empty = client.get("/health")
        assert empty.status_code == 200, empty.text
        assert empty.json()["status"] == "empty" and empty.json()["tables"] == {}
        assert empty.json()["message"] == (
            "the warehouse answers, but no pipeline run has written it yet: its tables fill on "
            "the first materialization of the assets"
        )
        # `/tables` lists what `/tables/{name}` serves (and its 404 names): every contract
        # table, those nothing has written yet without rows or a last write.
        before = client.get("/tables").json()["data"]
        assert [t["name"] for t in before] == list(CONTRACTS)
        assert {(t["rows"], t["last_write"], t["partitions"]) for t in before} == {
            (None, None, None)
        }
        assert client.get("/tables/landing_logs").json()["data"] == []
        user = {"name": "Ada", "email": "ada@example.org", "role": "admin"}
        assert client.post("/users", json=user, headers=key).status_code == 201
        assert client.post("/ingest/logs", json=[log] * 3, headers=key).status_code == 201

        pushed = client.get("/health").json()
        assert pushed["status"] == "empty"
        assert pushed["message"].endswith("; 4 pushed record(s) wait in the landing tables")
        # The push made an empty `users`: no run has written it, which is not "stale data".
        assert pushed["tables"]["users"] == {
            "last_write": None,
            "age_s": None,
            "stale": True,
            "state": "not written",
        }
        for name in ("landing_logs", "landing_users"):
            assert pushed["tables"][name]["state"] == "push", name
            assert pushed["tables"][name]["stale"] is False, name
            assert pushed["tables"][name]["last_write"] is not None, name

        tables = client.get("/tables")
        listed = {t["name"]: t for t in tables.json()["data"]}
        assert (listed["landing_logs"]["rows"], listed["landing_users"]["rows"]) == (3, 1)
        last_push = pushed["tables"]["landing_logs"]["last_write"]
        assert listed["landing_logs"]["last_write"] == last_push
        etag = tables.headers["etag"]
        assert client.get("/tables", headers={"If-None-Match": etag}).status_code == 304
        assert client.post("/ingest/logs", json=[log] * 2, headers=key).status_code == 201
        again = client.get("/tables", headers={"If-None-Match": etag})
        assert again.status_code == 200
        assert {t["name"]: t["rows"] for t in again.json()["data"]}["landing_logs"] == 5

        write_tie_records(warehouse_url, n=5)
        ran = client.get("/health").json()
        assert ran["status"] == "ok"
        assert ran["tables"]["records"]["state"] == "fresh"
        assert ran["tables"]["partition_ledger"]["state"] == "fresh"
        last = ran["tables"]["records"]["last_write"]
        assert ran["message"] == (
            f"1 table(s) written by the pipeline, the last at {last}; none stale; not written by "
            "any run yet: users; no run recorded in pipeline_runs yet"
        )
    with client_for(warehouse_url, version_refresh_ms=0, freshness_max_age_s=1) as client:
        time.sleep(1.1)
        old = client.get("/health").json()
        assert old["tables"]["records"]["state"] == "stale"
        assert "; stale (no write for over 1 s): records, partition_ledger;" in old["message"]
        assert old["tables"]["landing_logs"]["stale"] is False


def _create_runs(url: str) -> None:
    import pyarrow as pa

    from core.contracts.datasets import PIPELINE_RUNS
    from core.warehouse import open_warehouse

    base = dt.datetime(2024, 3, 1, 2, 0, tzinfo=dt.UTC)
    runs = [
        ("r1", "sales_job", "2024-03-01", "SUCCESS", 0, 30.1, 1000, None),
        ("r2", "sales_job", "2024-03-02", "FAILURE", 60, 5.2, 0, "source down: 503"),
        ("r3", "rest_api_job", None, "SUCCESS", 120, 2.2, 110, None),
    ]
    rows = [
        {
            "run_id": run_id,
            "job": job,
            "partitions": part,
            "status": status,
            "started_at": base + dt.timedelta(minutes=offset),
            "ended_at": base + dt.timedelta(minutes=offset, seconds=duration),
            "duration_s": duration,
            "records_processed": records,
            "error": error,
        }
        for run_id, job, part, status, offset, duration, records, error in runs
    ]
    open_warehouse(url).upsert(
        PIPELINE_RUNS, pa.Table.from_pylist(rows, PIPELINE_RUNS.arrow_schema)
    )


def test_stats_and_last_run_before_and_after_pipeline_runs_exists(warehouse_url: str) -> None:
    write_tie_records(warehouse_url, n=5)
    with client_for(warehouse_url, version_refresh_ms=0) as client:
        empty = client.get("/stats").json()
        assert empty["run_count"] == 0 and empty["runs_available"] is False
        assert empty["last_success"] is None and empty["total_records_processed"] == 0
        _create_runs(warehouse_url)
        client.app.state.runs._cache.clear()
        stats = client.get("/stats").json()
        assert stats["runs_available"] is True and stats["run_count"] == 3
        assert stats["total_records_processed"] == 1110
        # Summed as floats these are 37.50000000000001; the answer reads as the runs do.
        assert stats["total_duration_s"] == 37.5
        assert stats["last_failure_reason"] == "source down: 503"
        assert stats["last_failure"].startswith("2024-03-01T03:00:05")
        assert stats["last_success"].startswith("2024-03-01T04:00:02")
        assert stats["last_run"]["run_id"] == "r3"
        health = client.get("/health").json()
        assert health["last_run"]["run_id"] == "r3" and health["last_run"]["status"] == "SUCCESS"


def test_connections_are_read_only_and_time_limited(warehouse_url: str) -> None:
    write_tie_records(warehouse_url, n=5)

    async def check() -> None:
        db = open_database(settings_for(warehouse_url, query_timeout_ms=300))
        await db.open()
        try:
            assert (await db.fetch("SELECT COUNT(*) FROM records"))[0][0] == 5
            for statement in (
                "DELETE FROM records",
                "UPDATE records SET name = 'x'",
                "CREATE TABLE evil (a INTEGER)",
            ):
                with pytest.raises(Exception, match=r"(?i)read.?only"):
                    await db.fetch(statement)
            assert (await db.fetch("SELECT COUNT(*) FROM records"))[0][0] == 5
            slow = (
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                "WHERE x < 1000000000) SELECT COUNT(*) FROM c"
            )
            started = time.monotonic()
            with pytest.raises(QueryTimeout):
                await db.fetch(slow)
            assert time.monotonic() - started < 3
            assert (await db.fetch("SELECT 1"))[0][0] == 1  # the connection is still usable
        finally:
            await db.close()

    asyncio.run(check())


def test_unreachable_postgres_is_unavailable_not_an_error() -> None:
    async def check() -> None:
        db = open_database(settings_for("postgresql://root@127.0.0.1:1/none", pool_timeout_ms=300))
        await db.open()
        try:
            with pytest.raises(DatabaseUnavailable):
                await db.ping()
        finally:
            await db.close()

    asyncio.run(check())


def test_cors_is_closed_by_default_and_configurable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    write_tie_records(url, n=3)
    origin = {"Origin": "https://ui.example"}
    with client_for(url) as closed:
        r = closed.get("/data", headers=origin)
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    with client_for(url, cors_origins=["https://ui.example"]) as open_:
        r = open_.get("/data", headers=origin)
        assert r.headers["access-control-allow-origin"] == "https://ui.example"
        assert "etag" in r.headers["access-control-expose-headers"].lower()
        other = open_.get("/data", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        pre = open_.options("/data", headers=origin | {"Access-Control-Request-Method": "GET"})
        assert pre.status_code == 200


def test_access_log_and_metrics(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    write_tie_records(url, n=3)
    caplog.set_level(logging.INFO, logger="serving.access")
    with client_for(url, access_log=True) as client:
        client.get("/data", params={"page_size": 2}, headers={"X-Request-ID": "req-42"})
        client.get("/users/nobody@example.invalid")
        metrics = client.get("/metrics")
    lines = [r for r in caplog.records if r.name == "serving.access"]
    first = next(r for r in lines if r.path == "/data")
    assert (first.status, first.route, first.request_id) == (200, "/data", "req-42")
    assert first.query == "page_size=2" and first.duration_ms > 0
    assert any(r.route == "/users/{email}" and r.status == 404 for r in lines)
    text = metrics.text
    assert 'serving_http_requests_total{method="GET",route="/data",status="200"} 1.0' in text
    assert 'route="/users/{email}",status="404"' in text
    assert "serving_http_request_duration_seconds_bucket" in text
    assert 'serving_db_queries_total{kind="data"}' in text
    assert 'serving_table_last_write_timestamp_seconds{table="records"}' in text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_python_m_serving_serves_and_shuts_down_gracefully(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    write_tie_records(url, n=12)
    port = _free_port()
    env = dict(os.environ, WAREHOUSE_URL=url, SERVING_SHUTDOWN_TIMEOUT_S="5")
    proc = subprocess.Popen(
        [sys.executable, "-m", "serving", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{base}/ping", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the API did not start"
                time.sleep(0.1)
        page = httpx.get(f"{base}/data", params={"page_size": 5}).json()
        assert page["total"] == 12 and len(page["data"]) == 5
        assert httpx.get(f"{base}/health").json()["database"]["engine"] == "sqlite"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # uvicorn finishes its shutdown, then re-raises the signal it caught.
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert "Application shutdown complete" in err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(line["msg"] == "database pool closed" for line in lines)
    assert any(line.get("path") == "/data" and line.get("status") == 200 for line in lines)


def test_log_lines_are_json_with_a_utc_millisecond_time() -> None:
    from serving.core.observability import JsonFormatter

    record = logging.getLogger("serving.access").makeRecord(
        "serving.access", logging.INFO, __file__, 1, "request", (), None,
        extra={"status": 200, "big": 2**70, "when": dt.date(2024, 3, 1)},
    )  # fmt: skip
    record.created = 1709251200.25  # 2024-03-01T00:00:00.250Z
    line = json.loads(JsonFormatter().format(record))
    assert line["ts"] == "2024-03-01T00:00:00.250Z"
    assert (line["level"], line["logger"], line["msg"]) == ("info", "serving.access", "request")
    # Values JSON has no type for are written as text, an integer beyond 64 bits as a number.
    assert (line["status"], line["big"], line["when"]) == (200, 2**70, "2024-03-01")
