"""Shared fixtures: the sample sources over loopback, warehouses on SQLite and PostgreSQL, and a
local S3-compatible server."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest

from core.warehouse import Warehouse, open_warehouse
from orchestration.resources.quality import QualityThresholds
from orchestration.resources.sources import CsvLandingResource, GraphQLResource, RestApiResource
from orchestration.resources.storage import LakeResource, WarehouseResource
from sample_sources.sales import write_drops
from sample_sources.server import RunningServer, serve_in_thread

# The session fails when the tests changed a tracked file (or left an unignored one).
from tests.tree_guard import pytest_sessionfinish, pytest_sessionstart  # noqa: F401

# The tests land drops dated 2024 (SAMPLE_START) in temporary folders: the session's partitions,
# in this process and the ones it starts, begin before them, set as a deployment sets them,
# rather than where `make run` found data. A test of that resolution unsets them.
os.environ["SALES_START_DATE"] = "2024-01-01"
os.environ["LOGS_START_DATE"] = "2024-01-01-00:00"

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"
# The bucket of the `s3_endpoint` server, and the credentials it is reached with.
S3_BUCKET = "platform"
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test-key",
    "AWS_SECRET_ACCESS_KEY": "test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _postgres_unreachable() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.OperationalError as exc:
        return f"PostgreSQL at {PG_ADMIN_URL} unreachable: {exc}".strip()


@pytest.fixture(scope="session")
def postgres_admin() -> str:
    reason = _postgres_unreachable()
    if reason:
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: the Postgres half of the suite must run)")
        pytest.skip(reason)
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(postgres_admin: str) -> Iterator[str]:
    """A PostgreSQL database of the test's own, dropped afterwards."""
    name = f"dp_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = postgres_admin.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(postgres_admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty warehouse on each engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def warehouse(warehouse_url: str) -> Warehouse:
    return open_warehouse(warehouse_url)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A local S3-compatible server (moto) on loopback with the bucket `S3_BUCKET`; the
    credentials are in this process's environment meanwhile (give them to child processes).

    Its own process, as a real server is: delta-rs holds the GIL through some reads, so a
    server thread inside the test process could not answer them."""
    import pyarrow.fs as pafs

    from tests.processes import free_port, wait_for_http

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with pytest.MonkeyPatch.context() as env:
            for key, value in S3_CREDENTIALS.items():
                env.setenv(key, value)
            wait_for_http(f"http://127.0.0.1:{port}/moto-api/", 30, lambda: server.poll() is None)
            fs = pafs.S3FileSystem(
                endpoint_override=f"127.0.0.1:{port}", scheme="http", allow_bucket_creation=True
            )
            fs.create_dir(S3_BUCKET)
            yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(scope="session")
def sample_server() -> Iterator[RunningServer]:
    with serve_in_thread() as server:
        yield server


@pytest.fixture
def sources(sample_server: RunningServer) -> Iterator[RunningServer]:
    """The sample sources with no fault switched on, before and after the test."""
    import httpx

    httpx.delete(f"{sample_server.url}/_faults").raise_for_status()
    yield sample_server
    httpx.delete(f"{sample_server.url}/_faults").raise_for_status()


SAMPLE_START = date(2024, 3, 1)
SAMPLE_DAYS = 3


@dataclass
class Platform:
    """Everything an asset run needs, pointed at temporary storage and the sample sources."""

    root: Path
    warehouse_url: str
    source_url: str

    @property
    def landing_dir(self) -> Path:
        return self.root / "landing"

    @property
    def lake_dir(self) -> Path:
        return self.root / "lake"

    def resources(self, **overrides: Any) -> dict[str, Any]:
        fast_retries = {"max_retries": 3, "backoff_base_s": 0.01, "backoff_max_s": 0.05}
        return {
            "quality": QualityThresholds(),
            "warehouse": WarehouseResource(url=self.warehouse_url),
            "lake": LakeResource(url=str(self.lake_dir)),
            "landing": CsvLandingResource(location=str(self.landing_dir)),
            "rest_api": RestApiResource(base_url=self.source_url, page_size=7, **fast_retries),
            "graphql_api": GraphQLResource(base_url=f"{self.source_url}/graphql", **fast_retries),
        } | overrides

    @property
    def warehouse(self) -> Warehouse:
        return open_warehouse(self.warehouse_url)


@pytest.fixture
def platform(tmp_path: Path, warehouse_url: str, sources: RunningServer) -> Platform:
    """Temporary landing, lake and warehouse, with three days of sample drops (~1,000 rows)."""
    p = Platform(tmp_path, warehouse_url, sources.url)
    write_drops(p.landing_dir, SAMPLE_START, SAMPLE_DAYS, 1000)
    return p
