"""`make backfill`: a date range through the webserver's GraphQL API, run by the daemon in one
run, against a real `dagster dev`."""

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from core.contracts.datasets import SALES_DAILY, SALES_ORDERS
from core.warehouse import open_warehouse
from orchestration.backfill import days_between
from sample_sources.sales import write_drops
from tests.processes import dagster_dev

ROOT = Path(__file__).resolve().parent.parent


def test_days_between():
    assert days_between("2024-02-28", "2024-03-01") == ["2024-02-28", "2024-02-29", "2024-03-01"]
    with pytest.raises(ValueError, match=r"TO \(2024-03-01\) is before FROM \(2024-03-02\)"):
        days_between("2024-03-02", "2024-03-01")


CLI_BACKFILL = [sys.executable, "-m", "orchestration.cli", "backfill"]


def cli_backfill(first: str, last: str, url: str, env: dict | None = None):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestration.cli",
            "backfill",
            "--url",
            url,
            "--from",
            first,
            "--to",
            last,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=480,
    )


@pytest.mark.parametrize(
    ("first", "last", "says"),
    [
        ("", "2024-03-02", "'' is not a day: expected YYYY-MM-DD, e.g. 2024-03-01"),
        ("2024-03-01", "03/02/2024", "'03/02/2024' is not a day: expected YYYY-MM-DD"),
        ("2024-03-05", "2024-03-01", "TO (2024-03-01) is before FROM (2024-03-05)"),
    ],
)
def test_a_backfill_input_mistake_is_one_line(first, last, says):
    done = cli_backfill(first, last, "http://127.0.0.1:9")
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(says) and "usage: make backfill FROM=YYYY-MM-DD TO=YYYY-MM-DD" in line


def test_a_backfill_without_the_webserver_says_so():
    done = cli_backfill("2024-03-01", "2024-03-02", "http://127.0.0.1:9")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "no Dagster webserver answers at http://127.0.0.1:9: start it with `make run`"
    ]


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

        # A range with a day that has no drop: its other day is published, and the output
        # names the missing day and why the run failed.
        env_home = dict(env, DAGSTER_HOME=str(tmp_path / "dagster_home"))
        partial = cli_backfill("2024-03-03", "2024-03-04", url, env_home)
        assert partial.returncode == 1, partial.stdout + partial.stderr[-3000:]
        assert "COMPLETED_FAILED (1 run(s)" in partial.stdout
        assert "no sales drop for 1 day(s): ['2024-03-04']" in partial.stdout
        assert "2 day(s) published" in partial.stdout and "1 of 2" in partial.stdout

        # Days before the first partition: refused by name before anything is launched (Dagster
        # itself would backfill only the days it has, and say nothing of the others).
        early = cli_backfill("2023-12-30", "2024-03-01", url, env_home)
        assert early.returncode == 1, early.stdout + early.stderr[-3000:]
        assert early.stdout == ""
        assert early.stderr.startswith(
            "backfill refused: no partition for 2023-12-30, 2023-12-31: the days are 2024-"
        ), early.stderr
    wh = open_warehouse(warehouse_url)
    assert wh.count(SALES_DAILY) == 3
    assert wh.count(SALES_ORDERS) > 500
