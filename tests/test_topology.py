"""The production topology as plain processes against the local PostgreSQL and a local
S3-compatible server: a code server, a webserver and a daemon on a PostgreSQL instance, the drops
and the lake in the bucket, a run and a single-run backfill launched through the webserver, the
results read back from the bucket and through the serving API."""

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from datetime import date
from pathlib import Path

import httpx
import psycopg
import pyarrow.compute as pc
import pytest
from dagster_graphql import DagsterGraphQLClient

from orchestration.backfill import launch_backfill, wait_for_backfill
from orchestration.storage.delta import DeltaLake
from orchestration.storage.lake import Lake
from sample_sources.sales import write_drops
from tests.conftest import S3_BUCKET, S3_CREDENTIALS
from tests.processes import free_port, wait_for_http

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.fixture
def databases(postgres_admin):
    """A Dagster database and a warehouse database of the test's own."""
    names = {
        "dagster": f"dp_dagster_{uuid.uuid4().hex[:8]}",
        "warehouse": f"dp_wh_{uuid.uuid4().hex[:8]}",
    }
    with psycopg.connect(postgres_admin, autocommit=True) as conn:
        for name in names.values():
            conn.execute(f'CREATE DATABASE "{name}"')
    yield names
    with psycopg.connect(postgres_admin, autocommit=True) as conn:
        for name in names.values():
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start(stack: ExitStack, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    out = stack.enter_context(log.open("wb"))
    proc = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )

    def stop() -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    stack.callback(stop)
    return proc


@pytest.mark.slow
@pytest.mark.postgres
def test_processes_run_and_backfill_on_postgres_and_s3(
    tmp_path, databases, postgres_admin, s3_endpoint
):
    base = postgres_admin.rsplit("/", 1)[0]
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy/production/dagster.yaml", home / "dagster.yaml")
    # The drops arrive in the bucket; the processes see no local landing folder or lake.
    landing = Lake(f"s3://{S3_BUCKET}/topology/landing", s3_endpoint)
    for drop in write_drops(tmp_path / "drops", date(2024, 3, 1), 2, 400):
        landing.write_bytes(f"sales/{drop.name}", drop.read_bytes())
    code_port, ui_port, api_port, sources_port = (free_port() for _ in range(4))
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - grpc_server:\n      host: 127.0.0.1\n"
        f"      port: {code_port}\n      location_name: dataplatform\n"
    )
    user = base.split("//", 1)[1].split("@", 1)[0]
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_URL")} | {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_USER": user,
        "DAGSTER_PG_PASSWORD": "unused-with-trust-auth",
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_DB": databases["dagster"],
        "WAREHOUSE_URL": f"{base}/{databases['warehouse']}",
        "LAKE_URL": f"s3://{S3_BUCKET}/topology/lake",
        "LANDING_DIR": f"s3://{S3_BUCKET}/topology/landing",
        "S3_ENDPOINT_URL": s3_endpoint,
        **S3_CREDENTIALS,
        "REST_API_URL": f"http://127.0.0.1:{sources_port}",
        "GRAPHQL_API_URL": f"http://127.0.0.1:{sources_port}/graphql",
    }
    logs = tmp_path / "logs"
    logs.mkdir()
    ui = f"http://127.0.0.1:{ui_port}"
    with ExitStack() as stack:
        start(
            stack,
            [sys.executable, "-m", "sample_sources", "serve", "--port", str(sources_port)],
            env,
            logs / "sources.log",
        )
        start(
            stack,
            [
                str(BIN / "dagster"),
                "code-server",
                "start",
                "-m",
                "orchestration.definitions",
                "-h",
                "127.0.0.1",
                "-p",
                str(code_port),
            ],
            env,
            logs / "code.log",
        )
        deadline = time.monotonic() + 120
        while subprocess.run(
            [str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(code_port)],
            capture_output=True,
            env=env,
        ).returncode:
            assert time.monotonic() < deadline, (logs / "code.log").read_text()[-3000:]
            time.sleep(2)
        webserver = start(
            stack,
            [
                str(BIN / "dagster-webserver"),
                "-h",
                "127.0.0.1",
                "-p",
                str(ui_port),
                "-w",
                str(workspace),
            ],
            env,
            logs / "web.log",
        )
        start(
            stack,
            [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)],
            env,
            logs / "daemon.log",
        )
        wait_for_http(f"{ui}/server_info", 120, alive=lambda: webserver.poll() is None)

        client = DagsterGraphQLClient("127.0.0.1", port_number=ui_port)
        run_id = client.submit_job_execution("rest_api_job")
        backfill_id = launch_backfill(ui, "2024-03-01", "2024-03-02")
        deadline = time.monotonic() + 300
        while client.get_run_status(run_id).value not in ("SUCCESS", "FAILURE", "CANCELED"):
            assert time.monotonic() < deadline, (logs / "daemon.log").read_text()[-3000:]
            time.sleep(2)
        assert client.get_run_status(run_id).value == "SUCCESS"
        backfill = wait_for_backfill(ui, backfill_id, timeout_s=300)
        assert backfill["status"] == "COMPLETED_SUCCESS"
        assert len(backfill["runs"]) == 1 and backfill["runs"][0]["status"] == "SUCCESS"

        # Dagster's run records live in PostgreSQL.
        with psycopg.connect(f"{base}/{databases['dagster']}") as conn:
            statuses = dict(conn.execute("SELECT run_id, status FROM runs").fetchall())
        assert statuses[run_id] == "SUCCESS"
        assert statuses[backfill["runs"][0]["id"]] == "SUCCESS"
        # So do the warehouse tables.
        with psycopg.connect(env["WAREHOUSE_URL"]) as conn:
            assert conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 10
            assert conn.execute("SELECT COUNT(*) FROM sales_daily").fetchone()[0] == 2
            orders = dict(
                conn.execute(
                    "SELECT order_date::text, array_agg(order_id ORDER BY order_id) "
                    "FROM sales_orders GROUP BY 1"
                ).fetchall()
            )
        # The lake's Delta table is in the bucket, and holds the warehouse's orders of each day.
        lake = Lake(f"s3://{S3_BUCKET}/topology/lake", s3_endpoint)
        published = DeltaLake(lake.url, s3_endpoint).table("sales_orders").to_pyarrow_table()
        assert set(orders) == {"2024-03-01", "2024-03-02"}
        for day, order_ids in orders.items():
            mine = published.filter(pc.field("order_date") == date.fromisoformat(day))
            assert sorted(mine["order_id"].to_pylist()) == order_ids
            assert (
                lake.read_bytes(f"raw/sales/order_date={day}/sales_{day}.csv")
                == (tmp_path / "drops" / "sales" / f"sales_{day}.csv").read_bytes()
            )

        api = start(
            stack,
            [sys.executable, "-m", "serving", "--host", "127.0.0.1", "--port", str(api_port)],
            env,
            logs / "api.log",
        )
        wait_for_http(f"http://127.0.0.1:{api_port}/ping", 60, alive=lambda: api.poll() is None)
        users = httpx.get(f"http://127.0.0.1:{api_port}/users", params={"limit": 50}).json()
        assert len(users["data"]) == 10
        daily = httpx.get(f"http://127.0.0.1:{api_port}/sales/daily").json()
        assert {row["day"] for row in daily["data"]} == {"2024-03-01", "2024-03-02"}
