"""`make demo` and `make run` as a newcomer runs them: real processes, temporary data folders."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.processes import free_port, wait_for_http

ROOT = Path(__file__).resolve().parent.parent


def embedded_env(tmp_path: Path, warehouse_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_URL")}
    return env | {
        "WAREHOUSE_URL": warehouse_url or f"sqlite:///{tmp_path / 'warehouse.db'}",
        "LAKE_URL": str(tmp_path / "lake"),
        "LANDING_DIR": str(tmp_path / "landing"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "SAMPLE_SOURCES_PORT": str(free_port()),
        **extra,
    }


def table_counts(stdout: str) -> dict[str, int]:
    rows = stdout.split("table ", 1)[1].splitlines()[1:]
    return {name: int(n) for name, n in (line.split() for line in rows if line.strip())}


def test_demo_materializes_everything_and_prints_the_tables(tmp_path, warehouse_url):
    done = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "demo"],
        cwd=ROOT,
        env=embedded_env(tmp_path, warehouse_url),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    counts = table_counts(done.stdout)
    # The same tables and row counts on SQLite and on PostgreSQL: the sample data is
    # deterministic, 5,200 sales rows of which 200 are duplicates and 125 rejects.
    assert counts == {
        "users": 10,
        "posts": 100,
        "countries": 252,
        "sales_orders": 4875,
        "sales_rejects": 125,
        "sales_daily": 5,
        "records": 10 + 100 + 252 + 4875,
        "api_rejects": 0,
        # users writes two ledger rows: its API upsert and its `source=push` slice.
        "partition_ledger": 39,
        # Its four runs reached pipeline_runs without a daemon.
        "pipeline_runs": 4,
        # Nothing was pushed: the landing tables and what is built from them are empty.
        "landing_logs": 0,
        "landing_users": 0,
        "logs": 0,
        "log_levels_hourly": 0,
    }
    assert len(list((tmp_path / "lake" / "parquet" / "sales_orders").iterdir())) == 5
    # The runs are in the persistent Dagster instance, for the UI to show.
    assert any((tmp_path / "dagster_home").glob("history/runs/*.db"))


@pytest.mark.slow
def test_run_serves_the_ui_and_ctrl_c_stops_everything(tmp_path):
    ui_port, api_port = free_port(), free_port()
    env = embedded_env(tmp_path, UI_PORT=str(ui_port), API_PORT=str(api_port))
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    ui = f"http://127.0.0.1:{ui_port}/server_info"
    try:
        wait_for_http(ui, 180, alive=lambda: proc.poll() is None)
        # The serving API runs beside the UI, on the warehouse the run just filled.
        api = f"http://127.0.0.1:{api_port}"
        wait_for_http(f"{api}/ping", 60, alive=lambda: proc.poll() is None)
        assert len(httpx.get(f"{api}/users", params={"limit": 50}).json()["data"]) == 10
        # The push endpoints take the development key the run printed.
        user = {"name": "Dev User", "email": "dev@example.org", "role": "analyst"}
        pushed = httpx.post(f"{api}/users", json=user, headers={"X-API-Key": "dev-key"})
        assert pushed.status_code == 201, pushed.text
        assert httpx.get(f"{api}/users/dev@example.org").json()["source"] == "push"
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    output = proc.stdout.read()
    assert "stopping" in output
    assert "X-API-Key: dev-key" in output
    with pytest.raises(httpx.TransportError):
        httpx.get(ui, timeout=2)
