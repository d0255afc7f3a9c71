"""`make sql`: the lake's Delta tables, written by the real assets, queried through the DuckDB
shell, give the warehouse's answers, on a folder and on S3, beside SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pytest
from dagster import AssetSelection, DagsterInstance, materialize

from core.contracts import Contract
from core.contracts.datasets import (
    SALES_DAILY,
    SALES_ORDERS,
    SALES_REJECTS,
    USERS,
)
from core.datasets import SNAPSHOTS
from orchestration.definitions import defs
from orchestration.lake_sql import NO_LAKE_EXIT, extension_files, setup_sql
from orchestration.resources.storage import LakeResource
from orchestration.run_tags import range_tags
from orchestration.storage.delta import DeltaLake
from tests.conftest import S3_BUCKET

all_assets = defs().assets

ROOT = Path(__file__).resolve().parents[1]
DAYS = ["2024-03-01", "2024-03-02"]
SALES = (SALES_ORDERS, SALES_REJECTS, SALES_DAILY)
# The REST API's group: users, and every declared snapshot (posts, todos, comments).
REST = (USERS, *(s.contract for s in SNAPSHOTS if s.group == "rest_api"))
# Not published to the lake. (Its read of the Delta table holds the GIL while it waits on S3,
# which the moto server in this same process then never answers.)
NOT_NEEDED = AssetSelection.assets("sales_orders_export")
# Every lake view against `warehouse.sales_orders`, row by row.
JOIN = """
    FROM sales_orders AS l JOIN warehouse.sales_orders AS w USING (order_id)
    WHERE l.customer_id = w.customer_id AND l.product = w.product
      AND l.quantity = w.quantity AND l.price = w.price
      AND CAST(l.order_date AS VARCHAR) = CAST(w.order_date AS VARCHAR)
"""


def publish(platform, lake: LakeResource, groups: list[str]) -> None:
    """Materialize the groups' assets, their `lake/<name>` tables included: the sales over
    DAYS in one run, the snapshots in another."""
    for group in groups:
        result = materialize(
            all_assets,
            selection=AssetSelection.groups(group) - NOT_NEEDED,
            tags=range_tags(DAYS[0], DAYS[-1]) if group == "sales_csv" else {},
            resources=platform.resources(lake=lake),
            instance=DagsterInstance.ephemeral(),
            raise_on_error=False,
        )
        assert result.success, group


def lake_sql(env: dict[str, str], sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestration.lake_sql", "--mode", "json", "-c", sql],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def measures(contract: Contract) -> list[tuple[str, str]]:
    """(measure, SQL aggregate): the row count and the sum of every numeric column."""
    numeric = [c.name for c in contract.columns if c.type in ("int", "float")]
    return [("rows", "count(*)"), *((c, f"sum({c})") for c in numeric)]


def expected(platform, contracts: tuple[Contract, ...]) -> dict[tuple[str, str], float]:
    """The same measures, read from the warehouse by the platform's own code."""
    answers = {}
    for contract in contracts:
        table = platform.warehouse.read(contract)
        assert table.num_rows, contract.name
        for measure, _ in measures(contract):
            value = table.num_rows if measure == "rows" else pc.sum(table[measure]).as_py()
            answers[contract.name, measure] = float(value)
    orders = platform.warehouse.read(SALES_ORDERS)
    answers["join", "rows"] = float(orders.num_rows)
    answers["join", "revenue"] = pc.sum(pc.multiply(orders["quantity"], orders["price"])).as_py()
    return answers


def query(contracts: tuple[Contract, ...]) -> str:
    """One query for every measure, from the lake's views, in long form."""
    parts = [
        f"SELECT '{c.name}' AS tbl, '{measure}' AS measure, CAST({agg} AS DOUBLE) AS value "
        f"FROM {c.name}"
        for c in contracts
        for measure, agg in measures(c)
    ]
    parts += [
        f"SELECT 'join', 'rows', CAST(count(*) AS DOUBLE) {JOIN}",
        f"SELECT 'join', 'revenue', sum(l.quantity * l.price) {JOIN}",
    ]
    return " UNION ALL ".join(parts)


def assert_lake_answers(env: dict[str, str], platform, contracts: tuple[Contract, ...]) -> None:
    done = lake_sql(env, query(contracts))
    assert done.returncode == 0, done.stderr
    # Only the answer: no line about the setup, no terminal colour codes.
    assert done.stderr == "" and "\x1b" not in done.stdout, done.stderr
    got = {(r["tbl"], r["measure"]): r["value"] for r in json.loads(done.stdout)}
    assert got == pytest.approx(expected(platform, contracts))


def child_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LAKE_URL", "S3_ENDPOINT_URL")}
    return env | values


def test_folder_lake_answers_as_the_warehouse(platform, tmp_path):
    lake = LakeResource(url=str(platform.lake_dir))
    publish(platform, lake, ["rest_api", "sales_csv"])
    env = child_env(WAREHOUSE_URL=platform.warehouse_url, LAKE_URL=str(platform.lake_dir))
    assert_lake_answers(env, platform, (*REST, *SALES))

    # The warehouse is attached read-only.
    done = lake_sql(env, "DELETE FROM warehouse.sales_daily")
    assert done.returncode != 0 and "read-only mode" in done.stderr, done.stderr
    assert platform.warehouse.count(SALES_DAILY) == len(DAYS)

    # The same setup runs in DuckDB's Python API.
    tables = lake.tables()
    names = tables.table_names()
    assert set(names) == {c.name for c in (*REST, *SALES)}
    assert {"users", "posts", "todos", "comments"} <= set(names)
    with duckdb.connect() as con:
        con.execute(setup_sql(tables, names, platform.warehouse_url, extension_files(tmp_path)))
        rows = con.sql(f"SELECT count(*) {JOIN}").fetchone()
    assert rows == (platform.warehouse.count(SALES_ORDERS),)


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_s3_lake_answers_as_the_warehouse(platform, s3_endpoint):
    url = f"s3://{S3_BUCKET}/{uuid.uuid4().hex[:8]}/lake"
    publish(platform, LakeResource(url=url, s3_endpoint=s3_endpoint), ["sales_csv"])
    env = child_env(WAREHOUSE_URL=platform.warehouse_url, LAKE_URL=url, S3_ENDPOINT_URL=s3_endpoint)
    assert_lake_answers(env, platform, SALES)


def test_an_empty_lake_says_what_to_run(tmp_path):
    env = child_env(LAKE_URL=str(tmp_path / "lake"), WAREHOUSE_URL=f"sqlite:///{tmp_path}/w.db")
    done = lake_sql(env, "SELECT 1")
    assert done.returncode == NO_LAKE_EXIT
    assert "make demo" in done.stderr and "make run" in done.stderr
    assert not DeltaLake(str(tmp_path / "lake")).table_names()
