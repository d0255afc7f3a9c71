"""Warehouses for the serving tests, filled by materializing the real assets once per engine.

`materialize_all` runs the same jobs as `make demo` (REST snapshots, every continent, a range of
sales days, records) through `dagster.materialize` against the sample sources over loopback.
The serving app under test never imports Dagster; only this fixture code does.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from core.contracts import CONTRACTS
from core.warehouse import open_warehouse
from serving.app import create_app
from serving.core.config import Settings

SALES_DAYS = ["2024-03-01", "2024-03-02", "2024-03-03"]


def materialize_all(root: Path, warehouse_url: str, source_url: str) -> None:
    from dagster import DagsterInstance, materialize

    from orchestration.definitions import defs
    from orchestration.resources.quality import QualityThresholds
    from orchestration.resources.sources import (
        CsvLandingResource,
        GraphQLResource,
        RestApiResource,
    )
    from orchestration.resources.storage import LakeResource, WarehouseResource
    from sample_sources.sales import write_drops

    landing = root / "landing"
    write_drops(landing, dt.date(2024, 3, 1), len(SALES_DAYS), 1200)
    resources = {
        "warehouse": WarehouseResource(url=warehouse_url),
        "lake": LakeResource(url=str(root / "lake")),
        "landing": CsvLandingResource(location=str(landing)),
        "rest_api": RestApiResource(base_url=source_url, page_size=50),
        "graphql_api": GraphQLResource(base_url=f"{source_url}/graphql"),
        "quality": QualityThresholds(),
    }
    instance = DagsterInstance.ephemeral()

    def run(selection: list[str], **kwargs: Any) -> None:
        result = materialize(
            defs().assets, selection=selection, resources=resources, instance=instance, **kwargs
        )
        assert result.success

    run(["raw_users", "raw_posts", "users", "posts"])
    run(["raw_countries", "countries"], tags=_range("AF", "SA"))  # every continent, one run
    run(
        ["raw_sales", "sales_orders", "sales_rejects", "sales_daily"],
        tags=_range(SALES_DAYS[0], SALES_DAYS[-1]),
    )
    run(["records"])


def _range(start: str, end: str) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": start,
        "dagster/asset_partition_range_end": end,
    }


def settings_for(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"warehouse_url": url, "access_log": False, "pool_size": 2}
    return Settings(**(values | overrides))


@contextmanager
def client_for(url: str, **overrides: Any) -> Iterator[TestClient]:
    """A TestClient over the real app (lifespan included) serving `url`."""
    app = create_app(settings_for(url, **overrides))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


# -- a table made for ordering edge cases -------------------------------------------------------
def write_tie_records(url: str, n: int = 240, seed: int = 7) -> list[dict[str, Any]]:
    """`records` rows with many ties and NULLs in `value` and `created_at` (written through the
    platform's warehouse writer), returned as the API serves them."""
    rng = random.Random(seed)
    base = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    rows = []
    for i in range(n):
        created = None if rng.random() < 0.25 else base + dt.timedelta(hours=rng.randrange(4))
        rows.append(
            {
                "source": rng.choice(["users", "posts", "sales"]),
                "source_id": f"{i:04d}",
                "name": rng.choice(["alpha", "beta", "gamma delta"]),
                "value": None if rng.random() < 0.3 else rng.choice(["a", "b", "c"]),
                "description": f"row {i} of the tie table",
                "created_at": created,
                "updated_at": base,
            }
        )
    contract = CONTRACTS["records"]
    table = pa.Table.from_pylist(rows, schema=contract.arrow_schema)
    open_warehouse(url).upsert(contract, table)
    for row in rows:
        for key in ("created_at", "updated_at"):
            if row[key] is not None:
                row[key] = row[key].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return rows


# -- session fixtures: one materialized warehouse per engine, shared read-only ------------------
@pytest.fixture(scope="session")
def served_sqlite(tmp_path_factory: pytest.TempPathFactory, sample_server: Any) -> str:
    root = tmp_path_factory.mktemp("serving_sqlite")
    url = f"sqlite:///{root / 'warehouse.db'}"
    materialize_all(root, url, sample_server.url)
    return url


@contextmanager
def postgres_database(admin: str, prefix: str) -> Iterator[str]:
    """A database of its own on the server of `admin` (its URL), dropped afterwards."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def served_postgres(
    tmp_path_factory: pytest.TempPathFactory, sample_server: Any, postgres_admin: str
) -> Iterator[str]:
    with postgres_database(postgres_admin, "dp_serving") as url:
        materialize_all(tmp_path_factory.mktemp("serving_pg"), url, sample_server.url)
        yield url


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def served_url(request: pytest.FixtureRequest) -> str:
    """A warehouse filled by the real assets, on each engine (read-only for the tests)."""
    return request.getfixturevalue(f"served_{request.param}")


@pytest.fixture(scope="session")
def api(served_url: str) -> Iterator[TestClient]:
    """The app over the shared warehouse. Versions are read once: the data never changes."""
    with client_for(served_url, version_refresh_ms=3_600_000) as client:
        yield client
