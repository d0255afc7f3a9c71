"""The fault matrix's rows that need real processes (docs/RELIABILITY.md): a run killed with
SIGKILL in the middle of a partition write, and PostgreSQL restarted under the serving API."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import httpx
import psycopg
import pyarrow as pa
import pytest
from dagster import DagsterInstance, materialize
from deltalake import DeltaTable

from core.contracts.datasets import SALES_DAILY, SALES_ORDERS, SALES_REJECTS
from core.warehouse import open_warehouse
from orchestration.backfill import SALES_ASSETS
from orchestration.definitions import defs
from sample_sources.sales import write_drops
from tests.conftest import IN_CI
from tests.processes import free_port, serve_api
from tests.test_faults import DAY, FULL, lake_files

all_assets = defs().assets
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SALES = SALES_ASSETS
# Large enough that its load into the warehouse takes a while (1M rows with RELIABILITY_FULL=1).
KILL_PARTITION_ROWS = 1_000_000 if FULL else 200_000

MATERIALIZE = """
import sys
from dagster import DagsterInstance, materialize
from orchestration.definitions import defs
from orchestration.resources import resources_from_env

all_assets = defs().assets

result = materialize(
    all_assets,
    selection=sys.argv[2:],
    partition_key=sys.argv[1],
    resources=resources_from_env(),
    instance=DagsterInstance.ephemeral(),
    raise_on_error=False,
)
sys.exit(0 if result.success else 1)
"""


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def ledger(warehouse_url: str) -> list[tuple]:
    wh = open_warehouse(warehouse_url)
    return wh.query(
        "SELECT asset, partition, rows, run_id FROM partition_ledger ORDER BY asset, partition"
    )


def write_in_flight(warehouse_url: str, clean_dir: Path) -> Callable[[], bool]:
    """True while the day's warehouse write is in flight: the clean zone's temporary file holds
    a first block of orders (so the old rows are already deleted inside the transaction) and
    the engine shows the write (SQLite: the write lock is held; PostgreSQL: a COPY runs)."""

    def first_block_written() -> bool:
        return any(
            p.name.endswith(".tmp") and p.stat().st_size > 64 << 10 for p in clean_dir.iterdir()
        )

    if warehouse_url.startswith("sqlite"):
        path = warehouse_url.split(":///", 1)[1]

        def engine_writing() -> bool:
            conn = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
                return False
            except sqlite3.OperationalError as exc:
                assert "locked" in str(exc), exc
                return True
            finally:
                conn.close()

    else:

        def engine_writing() -> bool:
            with psycopg.connect(warehouse_url, autocommit=True) as conn:
                return bool(
                    conn.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND state = 'active' AND query LIKE 'COPY \"sales_orders\"%'"
                    ).fetchone()[0]
                )

    return lambda: first_block_written() and engine_writing()


# -- a run killed mid-write -----------------------------------------------------------------
def test_a_run_killed_mid_write_leaves_the_old_partition_and_a_rerun_repairs_it(platform):
    def run():
        return materialize(
            all_assets,
            selection=SALES,
            partition_key=DAY,
            resources=platform.resources(),
            instance=DagsterInstance.ephemeral(),
        )

    assert run().success
    tables = (SALES_ORDERS, SALES_REJECTS, SALES_DAILY)
    before = {t.name: platform.warehouse.read(t) for t in tables}
    ledger_before = ledger(platform.warehouse_url)
    lake_before = lake_files(platform.lake_dir)
    drop = write_drops(platform.landing_dir, date.fromisoformat(DAY), 1, KILL_PARTITION_ROWS)[0]

    env = dict(
        os.environ,
        WAREHOUSE_URL=platform.warehouse_url,
        LAKE_URL=str(platform.lake_dir),
        LANDING_DIR=str(platform.landing_dir),
    )
    log = platform.root / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", MATERIALIZE, DAY, *SALES],
            cwd=platform.root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        in_flight = write_in_flight(
            platform.warehouse_url, platform.lake_dir / f"clean/sales_orders/order_date={DAY}"
        )

        def caught() -> bool:
            assert proc.poll() is None, (
                "the run ended before its write was caught in flight:\n" + (log.read_text()[-3000:])
            )
            return in_flight()

        wait_until(caught, 180, "the partition write to start")
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # The warehouse: the old partition, as committed before (the ledger too).
    for t in tables:
        assert platform.warehouse.read(t).equals(before[t.name]), t.name
    assert ledger(platform.warehouse_url) == ledger_before

    # The lake: every file under a final name is whole, the old one or (the raw copy, moved
    # into place before the kill) the new drop; the killed write left only a hidden temporary.
    after = lake_files(platform.lake_dir)
    raw = f"raw/sales/order_date={DAY}/sales_{DAY}.csv"
    final = {rel: data for rel, data in after.items() if not Path(rel).name.startswith(".")}
    assert set(final) == set(lake_before)
    for rel, data in final.items():
        assert data == lake_before[rel] or (rel == raw and data == drop.read_bytes()), rel
    leftovers = sorted(set(after) - set(final))
    assert all(Path(r).name.endswith(".tmp") for r in leftovers), leftovers

    # A re-run repairs the partition: every line of the new drop accounted for, the exports
    # equal to the warehouse.
    result = run()
    assert result.success
    wh = platform.warehouse
    orders = wh.read(SALES_ORDERS, [DAY])
    meta = {
        k: v.value
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "sales_orders"
        for k, v in e.materialization.metadata.items()
    }
    assert meta["rows_read"] == KILL_PARTITION_ROWS
    rejects = wh.count(SALES_REJECTS, [DAY])
    assert orders.num_rows + rejects + meta["duplicates"] == KILL_PARTITION_ROWS
    published = DeltaTable(str(platform.lake_dir / "delta/sales_orders")).to_pyarrow_table()
    assert (
        published.select(orders.column_names).sort_by("order_id").equals(orders.sort_by("order_id"))
    )
    daily = wh.read(SALES_DAILY, [DAY]).to_pylist()[0]
    assert daily["orders"] == orders.num_rows
    assert (DAY, orders.num_rows) in {
        (p, n) for a, p, n, _ in ledger(platform.warehouse_url) if a == "sales_orders"
    }


# -- PostgreSQL restarted under the serving API ---------------------------------------------
def _postgres_bin() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


class PrivateCluster:
    """A PostgreSQL cluster of the test's own on a free port (initdb refuses to run as root:
    then the server runs as the `postgres` user, through runuser)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="dp-faults-pg-"))
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.data = self.dir / "data"
        self._pg("initdb", "-D", self.data, "-A", "trust", "-U", "root", "--no-sync", "-E", "UTF8")
        self.url = f"postgresql://root@127.0.0.1:{self.port}/postgres"

    def _pg(self, tool: str, *args: object) -> None:
        cmd = [*self.prefix, str(self.bindir / tool), *map(str, args)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{' '.join(cmd)}:\n{done.stdout}\n{done.stderr}"

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off"
        self._pg("pg_ctl", "start", "-w", "-D", self.data, "-l", self.dir / "log", "-o", options)

    def stop(self, mode: str = "fast") -> None:
        self._pg("pg_ctl", "stop", "-w", "-m", mode, "-D", self.data)

    def remove(self) -> None:
        subprocess.run(
            [*self.prefix, str(self.bindir / "pg_ctl"), "stop", "-m", "immediate", "-D", self.data],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.dir, ignore_errors=True)


def _private_postgres_unavailable(bindir: Path | None) -> str | None:
    if bindir is None:
        return "no initdb (PostgreSQL server binaries) in /usr/lib/postgresql/*/bin or on PATH"
    if os.geteuid() == 0:
        if not shutil.which("runuser"):
            return "running as root, which initdb refuses, and runuser is missing"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, which initdb refuses, and there is no postgres user"
    return None


@pytest.fixture
def private_postgres() -> Iterator[PrivateCluster]:
    """Never the shared server at :5432, which other tests use while this one restarts its."""
    bindir = _postgres_bin()
    reason = _private_postgres_unavailable(bindir)
    if reason:
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: this test must run)")
        pytest.skip(reason)
    cluster = PrivateCluster(bindir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


def test_postgres_restart_under_the_api_is_503_then_recovers_without_a_restart(
    private_postgres, tmp_path
):
    url = private_postgres.url
    days = [f"2024-03-0{d}" for d in (1, 2, 3)]
    summary = pa.Table.from_pylist(
        [
            {"day": date.fromisoformat(d), "orders": 10 * n, "units": 20 * n, "revenue": 5.5 * n}
            for n, d in enumerate(days, 1)
        ],
        schema=SALES_DAILY.arrow_schema,
    )
    open_warehouse(url).replace_partitions(SALES_DAILY, summary, days)

    # A hang would surface as the client's timeout: a failure, not a wait.
    client = httpx.Client(timeout=30)

    def answers(url: str, status: int) -> Callable[[], bool]:
        def check() -> bool:
            try:
                return client.get(url).status_code == status
            except httpx.TransportError:
                return False

        return check

    with client, serve_api(url, tmp_path, pool_timeout_ms=300) as base:
        wait_until(answers(f"{base}/health", 200), 60, "the API to come up healthy")
        up = client.get(f"{base}/sales/daily")
        assert up.status_code == 200
        rows = up.json()["data"]
        assert [r["orders"] for r in rows] == [10, 20, 30]

        private_postgres.stop()
        for _ in range(2):
            for path in ("/health", "/sales/daily"):
                down = client.get(f"{base}{path}")  # a refused connection would raise here
                assert down.status_code == 503, (path, down.status_code, down.text)
        assert client.get(f"{base}/sales/daily").json()["error"]["code"] == (
            "warehouse_unavailable"
        )
        assert client.get(f"{base}/health").json()["database"]["ok"] is False

        private_postgres.start()
        wait_until(answers(f"{base}/health", 200), 60, "the API to recover")
        again = client.get(f"{base}/sales/daily")
        assert again.status_code == 200 and again.json()["data"] == rows
    # One process served before, during and after the outage: it started once.
    assert (tmp_path / "serving.log").read_text().count("Application startup complete") == 1
