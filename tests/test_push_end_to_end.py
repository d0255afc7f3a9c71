"""Push ingestion end to end, every part a real process: `POST /ingest/logs` and `POST /users` to
the API, the landing sensor ticking in `dagster dev`'s daemon, the runs it launches, and the
records back through `GET /logs`, `GET /logs/levels` and `GET /users`. In the same `dagster dev`,
a CSV dropped into the landing folder while it runs reaches `GET /sales/daily` and the lake
without a click, through the drop sensor."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pyarrow.compute as pc
import pytest

from orchestration.defs.sales_csv.cleaning import clean_sales
from orchestration.storage.delta import DeltaLake
from sample_sources.sales import write_drops
from tests.processes import dagster_dev, serve_api

KEY = "e2e-key"


def wait_until(what: str, probe: Callable[[], Any], timeout_s: float = 240) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


@pytest.mark.slow
def test_pushed_records_and_a_dropped_csv_flow_through_the_sensors_to_the_api(
    tmp_path: Path, sources: Any
) -> None:
    warehouse = f"sqlite:///{tmp_path / 'warehouse.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVING_")} | {
        "WAREHOUSE_URL": warehouse,
        "LAKE_URL": str(tmp_path / "lake"),
        "LANDING_DIR": str(tmp_path / "landing"),
        "REST_API_URL": sources.url,
        "GRAPHQL_API_URL": f"{sources.url}/graphql",
        "LANDING_SENSOR_INTERVAL_S": "5",
    }
    records = [
        {
            "timestamp": f"2024-03-01T{10 + i % 2:02d}:{i:02d}:00Z",
            "service": ["checkout", "search"][i % 3 % 2],
            "severity": ["info", "WARNING", "error"][i % 3],
            "message": f"event number {i} handled",
            "event_id": f"e-{i}",
        }
        for i in range(40)
    ]
    records.append(records[0] | {"message": "a retry of event 0"})  # the same event id again
    with (
        dagster_dev(tmp_path / "dagster_home", env),
        serve_api(warehouse, tmp_path, api_keys=KEY, version_refresh_ms=200) as api,
        httpx.Client(base_url=api, timeout=30, headers={"X-API-Key": KEY}) as http,
    ):
        [drop] = write_drops(tmp_path / "landing", date(2024, 3, 1), days=1, rows=300)
        posted = http.post("/ingest/logs", json=records)
        assert posted.status_code == 201, posted.text
        user = {"name": "Ada Lovelace", "email": "ada@example.org", "role": "analyst"}
        assert http.post("/users", json=user).status_code == 201

        def visible_logs() -> list[dict[str, Any]] | None:
            page = http.get("/logs", params={"limit": 100})
            rows = page.json()["data"] if page.status_code == 200 else []
            return rows if len(rows) == 40 else None

        logs = wait_until("the pushed logs in GET /logs", visible_logs)
        assert {r["event_id"] for r in logs} == {f"e-{i}" for i in range(40)}
        first = next(r for r in logs if r["event_id"] == "e-0")
        assert first["message"] == "event number 0 handled"  # the first landing row wins
        assert {r["severity"] for r in logs} == {"INFO", "WARN", "ERROR"}
        hours = {r["hour"] for r in logs}
        assert hours == {"2024-03-01-10:00", "2024-03-01-11:00"}

        search = http.get("/logs", params={"search": "number 7"}).json()["data"]
        assert [r["event_id"] for r in search] == ["e-7"]
        levels = wait_until(
            "the level counts",
            lambda: http.get("/logs/levels", params={"limit": 100}).json()["data"],
        )
        assert sum(r["count"] for r in levels) == 40

        pushed = wait_until(
            "the pushed user merged into users",
            lambda: http.get("/users", params={"source": "push"}).json()["data"],
        )
        assert [(u["email"], u["source"]) for u in pushed] == [("ada@example.org", "push")]

        clean = clean_sales(drop.read_bytes(), date(2024, 3, 1)).orders
        daily = wait_until(
            "the dropped CSV's day in GET /sales/daily",
            lambda: http.get("/sales/daily").json()["data"],
        )
        assert daily == [
            {
                "day": "2024-03-01",
                "orders": clean.num_rows,
                "units": sum(clean["quantity"].to_pylist()),
                "revenue": pytest.approx(
                    pc.sum(pc.multiply(clean["quantity"], clean["price"])).as_py()
                ),
            }
        ]
        # The lake table and the export are the run's steps after the summary: they may still
        # be writing.
        export = tmp_path / "lake" / "csv" / "sales_orders" / "order_date=2024-03-01"
        wait_until("the day's CSV export", (export / "part-0.csv").exists, 60)
        lake = DeltaLake(str(tmp_path / "lake"))
        assert lake.state("sales_orders").rows == clean.num_rows
        for hour in sorted(hours):
            hourly = tmp_path / "lake" / "csv" / "logs" / f"hour={hour[:10]}T{hour[11:13]}"
            wait_until(f"the CSV export of {hour}", (hourly / "part-0.csv").exists, 60)
        published = {row["hour"] for row in lake.dataset("logs").to_table().to_pylist()}
        assert published == set(hours)
