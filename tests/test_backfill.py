"""`make backfill`: a date range through the webserver's GraphQL API, run by the daemon in one
run, against a real `dagster dev`."""

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from orchestration.backfill import days_between
from orchestration.contracts.datasets import SALES_DAILY, SALES_ORDERS
from orchestration.storage.warehouse import open_warehouse
from sample_sources.sales import write_drops
from tests.processes import dagster_dev

ROOT = Path(__file__).resolve().parent.parent


def test_days_between():
    assert days_between("2024-02-28", "2024-03-01") == ["2024-02-28", "2024-02-29", "2024-03-01"]
    with pytest.raises(ValueError):
        days_between("2024-03-02", "2024-03-01")


@pytest.mark.slow
def test_make_backfill_runs_a_range_in_one_run(tmp_path):
    write_drops(tmp_path / "landing", date(2024, 3, 1), 3, 600)
    warehouse_url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_URL")} | {
        "WAREHOUSE_URL": warehouse_url,
        "LAKE_URL": str(tmp_path / "lake"),
        "LANDING_DIR": str(tmp_path / "landing"),
    }
    with dagster_dev(tmp_path / "dagster_home", env) as url:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "orchestration.cli",
                "backfill",
                "--from",
                "2024-03-01",
                "--to",
                "2024-03-03",
                "--url",
                url,
            ],
            cwd=ROOT,
            env=dict(env, DAGSTER_HOME=str(tmp_path / "dagster_home")),
            capture_output=True,
            text=True,
            timeout=480,
        )
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        assert "COMPLETED_SUCCESS (1 run(s)" in done.stdout
    wh = open_warehouse(warehouse_url)
    assert wh.count(SALES_DAILY) == 3
    assert wh.count(SALES_ORDERS) > 500
