"""Push-ingest benchmark: `POST /ingest/logs` in batches, beside two baselines measured in the same
run.

    .venv/bin/python bench/ingest.py [--duration 10] [--batch-size 1000] [--concurrency 4]
                                     [--batches 200] [--engines sqlite,postgresql]

Per engine, one uvicorn worker serves `bench.ingest_app:app`: the real serving app, plus an
endpoint in the source documents' style (pydantic body, SQLAlchemy ORM `add_all`, `commit`)
writing the same records to the same database. wrk (in C, so the client costs the server's
cores little) posts one batch over and over to each endpoint, after a warm-up, and the stored
records are then counted in the database against the answered requests. The floor is a bulk
load of `--batches` batches with no HTTP and no validation: `psql \\copy` on PostgreSQL, one
`executemany` transaction on SQLite. Prints records/s and the p50/p99 of a batch, and the ratios
against the targets (100,000 records/s on PostgreSQL, 5x the ORM endpoint), with the CPU a batch
costs the server and the database, and the rate those costs allow on this host's cores. Then, on the
embedded setup (`dagster dev` with the landing sensor at its default 30 s interval, and the
API), it times POST to visible in `GET /logs`, a few times (target: two sensor intervals).
Results: the printed tables and targets, and `bench/results/ingest.json`.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `bench.ingest_app` for uvicorn, `tests.processes`

from common import format_table, free_port, run_wrk, start_process, stop_process  # noqa: E402
from harness import fresh_postgres, new_results, ratio, save_results  # noqa: E402

PG_DB = "bench_ingest"
KEY = "bench-ingest-key"
SERVICES = ["checkout", "search", "auth", "billing", "catalog", "email", "gateway", "cart"]
SEVERITIES = ["DEBUG", "INFO", "INFO", "INFO", "WARN", "ERROR", "critical", "warning"]
# The variants of each engine, as the JSON names them, and their labels.
VARIANTS = {
    "ingest": "POST /ingest/logs",
    "orm": "ORM add_all + commit",
    "floor": "bulk floor",
}

# Targets from the issue.
MIN_VS_ORM = 5.0
MIN_POSTGRES_RECORDS_PER_S = 100_000
MAX_VISIBLE_S = 60.0  # two landing-sensor intervals


def make_batches(n: int, size: int) -> list[list[dict]]:
    """Deterministic log records over a day, unique event ids."""
    base = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    batches = []
    for b in range(n):
        batch = []
        for i in range(size):
            k = b * size + i
            batch.append(
                {
                    "timestamp": (base + dt.timedelta(seconds=k % 86_400)).isoformat(),
                    "service": SERVICES[k % len(SERVICES)],
                    "severity": SEVERITIES[k % len(SEVERITIES)],
                    "message": f"request {k} served in {k % 997} ms for user {k % 5003}",
                    "attributes": {"request": k, "path": f"/api/v1/items/{k % 101}"},
                    "event_id": f"evt-{k}",
                }
            )
        batches.append(batch)
    return batches


def fresh_database(engine: str, workdir: Path) -> tuple[str, str]:
    """(WAREHOUSE_URL, SQLAlchemy URL) of an empty database."""
    if engine == "sqlite":
        path = workdir / "ingest.db"
        path.unlink(missing_ok=True)
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.close()
        return f"sqlite:///{path}", f"sqlite:///{path}"
    url = fresh_postgres(PG_DB)
    return url, url.replace("postgresql://", "postgresql+psycopg://", 1)


WRK_POST = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "{key}"
local f = io.open("{body}", "rb")
wrk.body = f:read("*a")
f:close()
"""


def postgres_pids() -> list[int]:
    """The PostgreSQL server's processes (backends, WAL writer, checkpointer)."""
    return [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU seconds spent so far by the processes still alive."""
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def count(url: str, table: str) -> int:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.split(":///", 1)[1]) as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def bulk_floor(engine: str, url: str, batches: list[list[dict]], workdir: Path) -> float:
    """Seconds to bulk-load the same records with no HTTP and no validation."""
    cols = ["event_id", "timestamp", "hour", "service", "severity", "message", "attributes"]
    rows = [
        [
            r["event_id"],
            r["timestamp"],
            r["timestamp"][:13].replace("T", "-") + ":00",
            r["service"],
            r["severity"].upper(),
            r["message"],
            orjson.dumps(r["attributes"]).decode(),
        ]
        for batch in batches
        for r in batch
    ]
    ddl = f"CREATE TABLE bench_copy_logs ({', '.join(f'{c} TEXT' for c in cols)})"
    if engine == "sqlite":
        with sqlite3.connect(url.split(":///", 1)[1]) as conn:
            conn.execute(ddl)
            t0 = time.perf_counter()
            conn.executemany(f"INSERT INTO bench_copy_logs VALUES ({', '.join('?' * 7)})", rows)
            conn.commit()
            return time.perf_counter() - t0
    path = workdir / "records.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(ddl.replace("timestamp TEXT", "timestamp TIMESTAMPTZ"))
    t0 = time.perf_counter()
    subprocess.run(
        ["psql", url, "-q", "-c", f"\\copy bench_copy_logs ({', '.join(cols)}) FROM '{path}' CSV"],
        check=True,
    )
    return time.perf_counter() - t0


def run_engine(engine: str, batches: list[list[dict]], workdir: Path) -> dict[str, dict]:
    """Each variant's records/s, batch latency and CPU per batch on `engine`."""
    url, orm_url = fresh_database(engine, workdir)
    records = sum(len(b) for b in batches)
    port = free_port()
    env = dict(
        os.environ,
        WAREHOUSE_URL=url,
        BENCH_ORM_URL=orm_url,
        SERVING_API_KEYS=KEY,
        SERVING_ACCESS_LOG="false",
        SERVING_LOG_LEVEL="WARNING",
        SERVING_RATE_LIMIT_PER_S="0",
        SERVING_INGEST_MAX_RECORDS=str(max(10_000, ARGS.batch_size)),
    )
    cmd = [sys.executable, "-m", "uvicorn", "bench.ingest_app:app", "--port", str(port),
           "--no-access-log", "--log-level", "warning"]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    proc = start_process(cmd, env, f"{base}/ping")
    body = workdir / "batch.json"
    body.write_bytes(orjson.dumps(batches[0]))
    script = workdir / "post.lua"
    script.write_text(WRK_POST.format(key=KEY, body=body))
    out: dict[str, dict] = {}
    try:
        for variant, path, table in (
            ("ingest", "/ingest/logs", "landing_logs"),
            ("orm", "/bench/orm/logs", "bench_orm_logs"),
        ):
            name = VARIANTS[variant]
            server, database = [proc.pid], postgres_pids() if engine == "postgresql" else []
            cpu = cpu_seconds(server), cpu_seconds(database)
            w = run_wrk(base + path, ARGS.concurrency, ARGS.duration, script=script)
            spent = cpu_seconds(server) - cpu[0], cpu_seconds(database) - cpu[1]
            if w.errors:
                raise SystemExit(f"{name}: {w.errors} failed requests")
            # Every answered batch is stored (the warm-up's too; a batch cut at the end may be).
            stored, answered = count(url, table), w.requests * ARGS.batch_size
            if stored < answered:
                raise SystemExit(f"{name}: {stored} records stored, {answered} answered 201")
            server_ms, db_ms = (1000 * s / (stored / ARGS.batch_size) for s in spent)
            out[variant] = {
                "records_per_s": round(w.rps * ARGS.batch_size),
                "p50_ms": w.p50_ms,
                "p99_ms": w.p99_ms,
                "server_cpu_ms": round(server_ms, 2),
                # SQLite works inside the server process.
                "db_cpu_ms": round(db_ms, 2) if database else None,
            }
    finally:
        stop_process(proc)
    floor = bulk_floor(engine, url, batches, workdir)
    out["floor"] = {
        "records_per_s": round(records / floor),
        "how": "psql \\copy" if engine == "postgresql" else "executemany, one transaction",
    }
    return out


def visibility(workdir: Path, samples: int = 3) -> list[float]:
    """Seconds from a POST's 201 to its records in `GET /logs`, through the real sensor."""
    from tests.processes import dagster_dev, serve_api

    warehouse = f"sqlite:///{workdir / 'visibility.db'}"
    env = dict(os.environ, WAREHOUSE_URL=warehouse, LAKE_URL=str(workdir / "lake"))
    env.pop("LANDING_SENSOR_INTERVAL_S", None)  # the default interval is what is measured
    seconds = []
    with (
        dagster_dev(workdir / "dagster_home", env),
        serve_api(warehouse, workdir, api_keys=KEY, version_refresh_ms=200) as api,
        httpx.Client(base_url=api, timeout=30, headers={"X-API-Key": KEY}) as http,
    ):
        for n in range(samples):
            batch = make_batches(1, 100)[0]
            for r in batch:
                r["event_id"] = f"vis-{n}-{r['event_id']}"
            t0 = time.perf_counter()
            assert http.post("/ingest/logs", json=batch).status_code == 201
            while True:
                found = http.get("/logs", params={"event_id": batch[-1]["event_id"]})
                if found.status_code == 200 and found.json()["data"]:
                    break
                if time.perf_counter() - t0 > 600:
                    raise SystemExit("records never became visible")
                time.sleep(0.5)
            seconds.append(time.perf_counter() - t0)
            if n + 1 < samples:
                time.sleep(7 * (n + 1))  # land the next POST at another phase of the tick
    return seconds


def summarize(engine: str, runs: dict[str, dict]) -> dict[str, Any]:
    """The engine's ratios; on PostgreSQL also the CPU a batch costs the server and the database
    together, and the rate that cost allows on this host's cores were they never idle."""
    ours = runs["ingest"]["records_per_s"]
    out: dict[str, Any] = {
        "vs_orm": ratio(ours, runs["orm"]["records_per_s"]),
        "vs_floor": ratio(ours, runs["floor"]["records_per_s"]),
    }
    if engine == "postgresql":
        cpu_ms = runs["ingest"]["server_cpu_ms"] + runs["ingest"]["db_cpu_ms"]
        out["cpu_ms_per_batch"] = round(cpu_ms, 2)
        out["cpu_cap_records_per_s"] = round(
            (os.cpu_count() or 1) * 1000 / cpu_ms * ARGS.batch_size
        )
    return out


def verdicts(results: dict[str, Any]) -> list[str]:
    """Each target, met or not, with its figure."""
    out = []

    def line(name: str, met: bool, figure: str) -> None:
        out.append(f"{name}: {'met' if met else 'NOT MET'} ({figure})")

    for engine, res in results["engines"].items():
        x = res["vs_orm"]
        line(
            f"[{engine}] POST /ingest/logs >= {MIN_VS_ORM:.0f}x the ORM endpoint",
            x >= MIN_VS_ORM,
            f"{x:.1f}x",
        )
        if engine == "postgresql":
            rate = res["variants"]["ingest"]["records_per_s"]
            line(
                f"[{engine}] >= {MIN_POSTGRES_RECORDS_PER_S:,} records/s",
                rate >= MIN_POSTGRES_RECORDS_PER_S,
                f"{rate:,} records/s; {res['cpu_ms_per_batch']:.1f} ms of CPU a batch caps "
                f"{os.cpu_count()} cores at {res['cpu_cap_records_per_s']:,} records/s",
            )
    seen = results.get("visibility_s")
    if seen:
        line(
            f"POST to visible in GET /logs <= {MAX_VISIBLE_S:.0f} s",
            max(seen) <= MAX_VISIBLE_S,
            ", ".join(f"{s:.1f} s" for s in seen),
        )
    return out


def main() -> None:
    batches = make_batches(ARGS.batches, ARGS.batch_size)
    engines = ARGS.engines.split(",")
    started = time.perf_counter()
    results = new_results(
        duration_s=ARGS.duration,
        batch_size=ARGS.batch_size,
        concurrency=ARGS.concurrency,
        batches=ARGS.batches,
        engines={},
    )
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        for engine in engines:
            print(f"{engine}: {ARGS.batches} batches of {ARGS.batch_size} ...", flush=True)
            runs = run_engine(engine, batches, Path(tmp))
            results["engines"][engine] = {"variants": runs, **summarize(engine, runs)}
        if ARGS.visibility:
            results["visibility_s"] = [round(s, 1) for s in visibility(Path(tmp))]
    rows = [
        [
            engine,
            VARIANTS[v] if v != "floor" else r["how"],
            r["records_per_s"],
            r.get("p50_ms"),
            r.get("p99_ms"),
            r.get("server_cpu_ms"),
            r.get("db_cpu_ms"),
        ]
        for engine, res in results["engines"].items()
        for v, r in res["variants"].items()
    ]
    header = ["engine", "variant", "records/s", "p50 ms", "p99 ms", "server CPU", "db CPU"]
    lines = [
        "",
        format_table(header, rows),
        "(CPU: milliseconds per batch, the server process and the PostgreSQL processes)",
        "",
    ]
    for engine, res in results["engines"].items():
        ours = f"{res['vs_orm']:.1f}x the ORM endpoint, {res['vs_floor']:.2f}x the bulk floor"
        lines.append(f"{engine}: {ours}")
    results["verdicts"] = verdicts(results)
    lines += ["", "Targets:", *("  " + v for v in results["verdicts"])]
    save_results("ingest", results, lines, started)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=200, help="records for the bulk floor")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per endpoint")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument(
        "--no-visibility", dest="visibility", action="store_false", help="skip the sensor timing"
    )
    ARGS = parser.parse_args()
    main()
