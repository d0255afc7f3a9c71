"""Warehouses filled by the real assets, as `serving_fixtures` fills them, that tests may write to.

The fuzzer and the hostile-input tests push records and keep a canary table there, so the shared
read-only warehouses of `serving_fixtures` stay exactly as the other serving tests expect them.
One per engine and test session: SQLite is a page-by-page copy of the session's materialized
warehouse, PostgreSQL a database of its own, materialized once; both get three hours of pushed
logs, materialized too, so `/logs` and `/logs/levels` have rows.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from serving.db.sqlite import sqlite_path

try:  # tests/ as a package or as a plain folder
    from tests.serving_fixtures import client_for, materialize_all, postgres_database
except ModuleNotFoundError:
    from serving_fixtures import client_for, materialize_all, postgres_database

# A table no route knows: an injected statement that reached SQL could drop or change it.
CANARY = "hostile_canary"
CANARY_ROWS = [(1, "still here"), (2, "'; DROP TABLE hostile_canary; --")]
LOG_HOURS = ("2024-03-01-10:00", "2024-03-01-12:00")


def seed_logs(url: str) -> None:
    """60 log records pushed through the API, then the `logs` and `log_levels_hourly` hours
    materialized, so `/logs` and `/logs/levels` have rows to search and page."""
    from dagster import DagsterInstance, materialize

    from core.settings import platform_settings_once
    from orchestration.defs.logs.assets import logs_assets
    from orchestration.defs.logs.partitions import hourly_partitions
    from orchestration.resources.storage import WarehouseResource

    records = [
        {
            "timestamp": f"2024-03-01T{10 + i % 3:02d}:{i:02d}:00Z",
            "service": ("checkout", "search", "billing")[i % 3],
            "severity": ("INFO", "WARN", "ERROR")[i % 3 if i % 4 else 0],
            "message": f"order {i} handled by worker {i % 7}",
            "attributes": {"order": i, "note": "a 'quoted' value"},
            "event_id": f"seed-{i}",
        }
        for i in range(60)
    ]
    with client_for(url, api_keys="seed-key") as client:
        answer = client.post("/ingest/logs", json=records, headers={"X-API-Key": "seed-key"})
        assert answer.status_code == 201, answer.text
    hours = hourly_partitions(platform_settings_once())
    seeded = [a for a in logs_assets(hours) if a.key.path[-1] in ("logs", "log_levels_hourly")]
    result = materialize(
        seeded,
        resources={"warehouse": WarehouseResource(url=url)},
        instance=DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": LOG_HOURS[0],
            "dagster/asset_partition_range_end": LOG_HOURS[1],
        },
    )
    assert result.success


def execute(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """One statement on the warehouse at `url`, committed; its rows (if any)."""
    if url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(sqlite_path(url))) as conn, conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql.replace("?", "%s"), params)
        return cur.fetchall() if cur.description else []


def table_counts(url: str) -> dict[str, int]:
    """Every table of the warehouse (the engine's own catalog) and its row count."""
    if url.startswith("sqlite"):
        names = execute(url, "SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        names = execute(
            url,
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
        )
    return {n: execute(url, f'SELECT COUNT(*) FROM "{n}"')[0][0] for (n,) in names}


def add_canary(url: str) -> None:
    execute(url, f"CREATE TABLE {CANARY} (id INTEGER PRIMARY KEY, note TEXT NOT NULL)")
    for row in CANARY_ROWS:
        execute(url, f"INSERT INTO {CANARY} (id, note) VALUES (?, ?)", row)


def canary_rows(url: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in execute(url, f"SELECT id, note FROM {CANARY} ORDER BY id")]


@pytest.fixture(scope="session")
def writable_sqlite(served_sqlite: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    target = tmp_path_factory.mktemp("writable_sqlite") / "warehouse.db"
    source = sqlite3.connect(f"file:{sqlite_path(served_sqlite)}?mode=ro", uri=True)
    with contextlib.closing(source), contextlib.closing(sqlite3.connect(target)) as copy:
        source.backup(copy)
    url = f"sqlite:///{target}"
    execute(url, "PRAGMA journal_mode=WAL")
    seed_logs(url)
    add_canary(url)
    return url


@pytest.fixture(scope="session")
def writable_postgres(
    tmp_path_factory: pytest.TempPathFactory, sample_server: Any, postgres_admin: str
) -> Iterator[str]:
    with postgres_database(postgres_admin, "dp_writable") as url:
        materialize_all(tmp_path_factory.mktemp("writable_pg"), url, sample_server.url)
        seed_logs(url)
        add_canary(url)
        yield url


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def writable_url(request: pytest.FixtureRequest) -> str:
    """A materialized warehouse on each engine, with the canary table, that tests may write to."""
    return request.getfixturevalue(f"writable_{request.param}")
