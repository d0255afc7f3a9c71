"""Backfill benchmark: a year of daily sales drops as one run, as a run per day, and as a script.

    .venv/bin/python bench/backfill.py              # 180 days x 10,000 rows, a sample of 10 runs
    .venv/bin/python bench/backfill.py --days 365   # the full year of the issue
    .venv/bin/python bench/backfill.py --quick      # 30 days x 2,000 rows, a sample of 5 runs
    .venv/bin/python bench/backfill.py --days 90 --sample 6 --profile
    .venv/bin/python bench/backfill.py --variants single,plain --dagster-yaml other.yaml

The same drops (`sample_sources.sales.write_drops`, 2024-01-01 on) go through four variants:

* `single run`: `sales_job` (raw copy, clean orders and rejects, summary, exports and the
  job's asset checks) as ONE run over the whole range - the range tags
  `dagster/asset_partition_range_start` / `_end`, what a single-run backfill launches (every
  sales asset has `BackfillPolicy.single_run()`);
* `run per partition`: `sales_job` once per day (`partition_key=day`), what a multi-run
  backfill launches (for assets without `BackfillPolicy.single_run()`). A sample of the days,
  spread over the range and run latest first, is measured and extrapolated to every day as the
  first run (which carries the process's one-time costs) plus the mean of the others times the
  remaining days. Before each sampled run the warehouse holds exactly the days before it, as it
  would in a real backfill: it starts as a copy of the single run's warehouse, from which the
  sampled day and every later one are deleted (untimed). Without the single run it starts empty.
  All in one warm process, so a lower bound: a real backfill launches each run in a process of
  its own, through the queue;
* `plain script`: no Dagster - the same cleaning function (`clean_sales`), one SQLite
  `executemany` transaction per day into the same tables (the contracts' DDL), the daily
  summary, a Parquet and a CSV file per day;
* `daemon`: both Dagster kinds again, as the platform really runs them (`child_daemon`):
  `dagster dev` on the instance configuration, runs submitted through the webserver, queued,
  and launched by the daemon each in a process of its own with the job's executor - first the
  one run over every day, then the sampled days as one run each (extrapolated).

The first two run the job of `orchestration.definitions.defs` with `execute_in_process` on a
persistent `DagsterInstance` (run, event-log and schedule storage in a temporary DAGSTER_HOME
with the embedded `dagster.yaml`, or `--dagster-yaml`), as `orchestration.cli` does; the
resources read WAREHOUSE_URL, LAKE_URL and LANDING_DIR, set in the child before it imports
`orchestration`, and point at a temporary SQLite warehouse, lake and landing folder. Each
variant runs in a fresh child process and measures its own peak RSS. Asset-check steps are
timed apart from the asset steps (Dagster's STEP_SUCCESS durations); what is left of a run's
wall time is Dagster's own per-run cost. The events of a run are counted from the instance's
event log, and the transactions of the instance's storage as SQLAlchemy commits. Results: a
printed table with the ratios and a verdict per target, and `bench/results/backfill.json`.

Defaults: 180 days x 10,000 rows (1.8M rows), not the issue's full year, to keep the run short
(docs/benchmarks.md gives its duration). Every variant's cost is linear in the days, so half a
year keeps the ratios; use `--days 365` for the full year.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from backfill_daemon import child_daemon
from common import (
    RESULTS_DIR,
    StageTimer,
    current_rss_mb,
    export_relpath,
    format_table,
    profiled,
    raw_relpath,
    truncate_sales_from,
    write_sales_drops,
)
from harness import (
    child_main,
    chosen_variants,
    new_results,
    ratio,
    run_variant,
    save_results,
    stage_list,
    step_seconds,
    time_methods,
    variants_parser,
)
from plain import DAY_TABLES, arrow_rows, bulk_sqlite, daily_row, sales_ddl, write_exports

from orchestration.run_tags import range_tags

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
START = date(2024, 1, 1)
VARIANTS = ("single", "per_partition", "plain", "daemon")
LABELS = {
    "single": "single run",
    "per_partition": "run per partition",
    "plain": "plain script",
    "daemon": "both, through the daemon",
    "daemon_single": "single run, daemon",
    "daemon_per_partition": "run per partition, daemon",
}
CHILD_TIMEOUT_S = 3600
EVENT_LOG_STAGE = "dagster event log writes"

# Targets from the issue.
MIN_PER_PARTITION_OVER_SINGLE = 10.0
MAX_SINGLE_OVER_PLAIN = 1.5


# ---------------------------------------------------------------------------------------------
# Children: one variant each, in a fresh interpreter.
# ---------------------------------------------------------------------------------------------


def child_variant(spec: dict[str, Any]) -> dict[str, Any]:
    runner = {
        "single": child_single,
        "per_partition": child_per_partition,
        "plain": child_plain,
        "daemon": child_daemon,
    }
    stem = f"backfill_{spec['variant']}" if spec.get("profile") else None
    return profiled(lambda: runner[spec["variant"]](spec), stem, top=60)


def _dagster_setup(spec: dict[str, Any]) -> dict[str, Any]:
    """A persistent instance in a fresh DAGSTER_HOME and `sales_job` from the definitions,
    with the environment set before `orchestration` is imported (its resources read it)."""
    home = Path(spec["dagster_home"])
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(spec["dagster_yaml"]), home / "dagster.yaml")
    os.environ.update(
        {
            "DAGSTER_HOME": str(home),
            "WAREHOUSE_URL": spec["url"],
            "LAKE_URL": spec["lake"],
            "LANDING_DIR": spec["landing"],
            "SALES_START_DATE": START.isoformat(),
            # As `make run` starts the embedded platform (orchestration/instance.py).
            "DAGSTER_EVENT_BATCH_SIZE": "1000",
        }
    )
    from dagster import DagsterInstance

    import orchestration.defs.sales_csv.assets as sales
    from core.warehouse import SQLiteWarehouse, Warehouse
    from orchestration import definitions
    from orchestration.storage.lake import Lake

    # Timers around the stage functions; behaviour is unchanged.
    timer = StageTimer()
    # Whichever of these cleaning entry points the assets module defines is timed.
    for name, label in (("clean_sales", "clean_sales (parse + rules)"), ("_clean_day", "a day")):
        if callable(getattr(sales, name, None)):
            setattr(sales, name, timer.wrap(getattr(sales, name), label))
    patches: list[tuple[type, str, Any]] = [
        (Warehouse, "replace_partitions", lambda _s, c, *a, **k: f"warehouse write {c.name}"),
        (Warehouse, "query", "warehouse queries (summary + checks)"),
        (Lake, "copy_from", "lake copies (raw + export parquet)"),
        (Lake, "write_parquet", "lake write parquet (clean zone)"),
        (Lake, "read_parquet", "lake read parquet (export)"),
        (Lake, "write_csv", "lake write csv (export)"),
    ]
    time_methods(timer, patches)
    # The per-day transaction's own cost: connect, BEGIN, COMMIT and close (its body excluded).
    open_transaction = SQLiteWarehouse.transaction

    @contextmanager
    def transaction(self: Any) -> Iterator[Any]:
        cm = open_transaction(self)
        with timer.stage("warehouse connect + commit + close"):
            conn = cm.__enter__()
        try:
            yield conn
        except BaseException:
            if not cm.__exit__(*sys.exc_info()):
                raise
        else:
            with timer.stage("warehouse connect + commit + close"):
                cm.__exit__(None, None, None)

    if "transaction" in vars(SQLiteWarehouse):
        SQLiteWarehouse.transaction = transaction  # type: ignore[method-assign]
    # Every write to the instance's event log, one event (`store_event`) or a batch
    # (`store_event_batch`, which may store some of its events with `store_event`), timed once;
    # and every commit of the instance's storage (SQLAlchemy; the warehouse uses sqlite3).
    import sqlalchemy
    from dagster._core.storage.event_log.base import EventLogStorage
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    with contextlib.suppress(ImportError):
        import orchestration.instance  # noqa: F401  (the embedded instance's event log)

    commits = Counter[str]()
    sqlalchemy.event.listen(
        sqlalchemy.engine.Engine, "commit", lambda _conn: commits.update(["commits"])
    )
    depth = [0]

    def timed_write(fn: Any) -> Any:
        def write(self: Any, arg: Any) -> None:
            depth[0] += 1
            try:
                if depth[0] > 1:
                    return fn(self, arg)
                with timer.stage(EVENT_LOG_STAGE):
                    return fn(self, arg)
            finally:
                depth[0] -= 1

        return write

    for cls in {SqliteEventLogStorage, *SqliteEventLogStorage.__subclasses__(), EventLogStorage}:
        for name in ("store_event", "store_event_batch"):
            if name in vars(cls):
                setattr(cls, name, timed_write(vars(cls)[name]))
    instance = DagsterInstance.get()
    if instance.is_ephemeral:
        raise RuntimeError("expected a persistent instance")
    defs = definitions.defs()
    return {
        "job": defs.resolve_job_def("sales_job"),
        "instance": instance,
        "check_steps": {c.node_def.name for c in defs.asset_checks},
        "timer": timer,
        "events": Counter[str](),
        "commits": commits,
        "storage": f"{type(instance.run_storage).__name__}, "
        f"{type(instance.event_log_storage).__name__}",
    }


def _execute(env: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """One `sales_job` run; its wall time split into asset steps, check steps and the rest."""
    timer, events, commits = env["timer"], env["events"], env["commits"]
    logged_s, committed = timer.seconds[EVENT_LOG_STAGE], commits["commits"]
    start = time.perf_counter()
    result = env["job"].execute_in_process(instance=env["instance"], raise_on_error=False, **kwargs)
    seconds = time.perf_counter() - start
    committed = commits["commits"] - committed
    steps, error = step_seconds(result)
    # The run's events as its event log holds them, by type.
    stored = Counter(
        (e.dagster_event_type.value if e.dagster_event_type else "LOG_MESSAGE")
        for e in env["instance"].all_logs(result.run_id)
    )
    events.update(stored)
    checks = sum(v for k, v in steps.items() if k in env["check_steps"])
    assets = sum(v for k, v in steps.items() if k not in env["check_steps"])
    out = {
        "ok": result.success,
        "run_id": result.run_id,
        "seconds": round(seconds, 3),
        "steps": steps,
        "asset_steps_s": round(assets, 3),
        "check_steps_s": round(checks, 3),
        "run_overhead_s": round(seconds - assets - checks, 3),
        "event_log_s": round(timer.seconds[EVENT_LOG_STAGE] - logged_s, 3),
        "events": sum(stored.values()),
        "commits": committed,
    }
    if error:
        out["error"] = error
    return out


def child_single(spec: dict[str, Any]) -> dict[str, Any]:
    env = _dagster_setup(spec)
    days = spec["days"]
    baseline = current_rss_mb()
    run = _execute(env, tags=range_tags(days[0], days[-1]))
    return run | {
        "baseline_rss_mb": round(baseline, 1),
        "runs": 1,
        "stages": env["timer"].as_dict(),
        "event_types": dict(env["events"].most_common()),
        "instance_storage": env["storage"],
    }


def child_per_partition(spec: dict[str, Any]) -> dict[str, Any]:
    env = _dagster_setup(spec)
    baseline = current_rss_mb()
    runs: list[dict[str, Any]] = []
    truncate_s = 0.0
    # Latest first: each sampled run then finds the days before it, and only those, by
    # deleting what lies between it and the previous sample.
    for day in sorted(spec["sample"], reverse=True):
        if spec.get("prefilled"):
            t = time.perf_counter()
            truncate_sales_from(spec["url"], day)
            truncate_s += time.perf_counter() - t
        run = _execute(env, partition_key=day)
        run["day"] = day
        runs.append(run)
        if run["ok"]:
            # What the run left for its day, read before the next cut removes it (untimed).
            run["check"] = totals(spec, [day])
        if not run["ok"]:
            return {
                "ok": False,
                "error": f"{day}: {run['error']}",
                "baseline_rss_mb": round(baseline, 1),
            }
    found = [r.pop("check") for r in runs]
    first, rest = runs[0], runs[1:]
    n = len(spec["days"])

    def extrapolate(key: str) -> float:
        if not rest:
            return first[key] * n
        return first[key] + statistics.fmean(r[key] for r in rest) * (n - 1)

    return {
        "baseline_rss_mb": round(baseline, 1),
        "runs": n,
        "sampled_runs": runs,
        "sample_seconds": round(sum(r["seconds"] for r in runs), 3),
        "seconds": round(extrapolate("seconds"), 3),
        "asset_steps_s": round(extrapolate("asset_steps_s"), 3),
        "check_steps_s": round(extrapolate("check_steps_s"), 3),
        "run_overhead_s": round(extrapolate("run_overhead_s"), 3),
        "event_log_s": round(extrapolate("event_log_s"), 3),
        "events": round(extrapolate("events")),
        "commits": round(extrapolate("commits")),
        "event_types_in_sample": dict(env["events"].most_common()),
        "prefilled": bool(spec.get("prefilled")),
        "truncate_untimed_s": round(truncate_s, 2),
        "stages_in_sample": env["timer"].as_dict(),
        "instance_storage": env["storage"],
        "sample_check": {k: round(sum(c[k] for c in found), 2) for k in found[0]},
    }


def child_plain(spec: dict[str, Any]) -> dict[str, Any]:
    """The same work as a plain script: the pipeline's cleaning function, one SQLite
    transaction per day, a Parquet and a CSV file per day."""
    import pyarrow as pa

    from orchestration.defs.sales_csv.cleaning import clean_sales

    ddl = sales_ddl(spec["url"])
    timer = StageTimer()
    baseline = current_rss_mb()
    start = time.perf_counter()
    lake, landing = Path(spec["lake"]), Path(spec["landing"])
    conn = bulk_sqlite(spec["url"])
    try:
        for stmt in ddl:
            conn.execute(stmt)
        for day in spec["days"]:
            raw = lake / raw_relpath(day)
            with timer.stage("raw copy"):
                raw.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(landing / "sales" / f"sales_{day}.csv", raw)
            with timer.stage("clean_sales (parse + rules)"), pa.memory_map(str(raw)) as source:
                result = clean_sales(source, date.fromisoformat(day))
            orders = result.orders
            daily = daily_row(day, orders)
            with timer.stage("warehouse load"):
                conn.execute("BEGIN IMMEDIATE")
                for table, col in DAY_TABLES:
                    conn.execute(f"DELETE FROM {table} WHERE {col} = ?", [day])
                n = orders.num_columns
                conn.executemany(
                    f"INSERT INTO sales_orders VALUES ({', '.join('?' * n)})", arrow_rows(orders)
                )
                conn.executemany(
                    "INSERT INTO sales_rejects VALUES (?, ?, ?, ?)", arrow_rows(result.rejects)
                )
                conn.execute("INSERT OR REPLACE INTO sales_daily VALUES (?, ?, ?, ?)", daily)
                conn.execute("COMMIT")
            with timer.stage("export parquet + csv"):
                write_exports(lake, day, orders)
            del result, orders
    finally:
        conn.close()
    seconds = time.perf_counter() - start
    return {
        "seconds": round(seconds, 3),
        "runs": 0,
        "baseline_rss_mb": round(baseline, 1),
        "stages": timer.as_dict(),
    }


def verify(spec: dict[str, Any]) -> dict[str, Any]:
    """What the variant left: over every day, and over the sampled days (for the run-per-
    partition variant, what each sampled run left for its day right after it ran)."""
    if spec["variant"] == "per_partition":
        return {}
    return {"all": totals(spec, spec["days"]), "sample": totals(spec, spec["sample"])}


def totals(spec: dict[str, Any], days: list[str]) -> dict[str, Any]:
    """Orders, units, revenue, rejects, summary rows and exported rows of `days`."""
    import pyarrow.csv as pa_csv

    marks = ", ".join("?" * len(days))
    with sqlite3.connect(spec["url"].split(":///", 1)[1]) as conn:
        orders = conn.execute(
            "SELECT COUNT(*), SUM(quantity), SUM(quantity * price) FROM sales_orders "
            f"WHERE order_date IN ({marks})",
            days,
        ).fetchone()
        rejects = conn.execute(
            f"SELECT COUNT(*) FROM sales_rejects WHERE partition_date IN ({marks})", days
        ).fetchone()
        daily = conn.execute(
            f"SELECT COUNT(*), SUM(orders) FROM sales_daily WHERE day IN ({marks})", days
        ).fetchone()
    conn.close()
    lake = Path(spec["lake"])
    # The CSV exports every variant writes (the pipeline's Parquet is its Delta table).
    exported = sum(
        batch.num_rows
        for d in days
        if (path := lake / export_relpath(d, "csv")).exists()
        for batch in pa_csv.open_csv(path)
    )
    return {
        "orders": int(orders[0]),
        "units": int(orders[1] or 0),
        "revenue": round(float(orders[2] or 0), 2),
        "rejects": int(rejects[0]),
        "daily_rows": int(daily[0]),
        "daily_orders": int(daily[1] or 0),
        "exported_rows": exported,
    }


# ---------------------------------------------------------------------------------------------
# Parent: data, fresh stores, children, report.
# ---------------------------------------------------------------------------------------------


class Runner:
    def __init__(
        self, work: Path, landing: Path, days: list[str], sample: list[str], dagster_yaml: Path
    ) -> None:
        self.work, self.landing, self.days, self.sample = work, landing, days, sample
        self.dagster_yaml = dagster_yaml
        self.count = 0

    def run(
        self, variant: str, prefill: Path | None = None, profile: bool = False
    ) -> dict[str, Any]:
        self.count += 1
        run_dir = self.work / f"run{self.count}-{variant}"
        run_dir.mkdir()
        db = run_dir / "warehouse.db"
        if prefill is not None:
            copy_sqlite(prefill, db)
        spec = {
            "variant": variant,
            "url": f"sqlite:///{db}",
            "lake": str(run_dir / "lake"),
            "landing": str(self.landing),
            "dagster_home": str(run_dir / "dagster_home"),
            "dagster_yaml": str(self.dagster_yaml),
            "days": self.days,
            "sample": self.sample,
            "prefilled": prefill is not None,
            "profile": profile,
            "result_path": str(run_dir / "result.json"),
        }
        what = {
            "per_partition": f"{len(self.sample)} sampled runs of {len(self.days)}",
            "daemon": f"{len(self.days)} partitions in one run, then {len(self.sample)} sampled "
            "runs of one",
        }.get(variant, f"{len(self.days)} partitions")
        label = f"{LABELS[variant]} ({what})" + (" [cProfile]" * profile)
        result = run_variant(SCRIPT, spec, CHILD_TIMEOUT_S, label, summary)
        shutil.rmtree(run_dir / "lake", ignore_errors=True)
        shutil.rmtree(run_dir / "dagster_home", ignore_errors=True)
        result["warehouse"] = str(db)
        return result

    def drop_warehouse(self, result: dict[str, Any]) -> None:
        for f in Path(result["warehouse"]).parent.glob("warehouse.db*"):
            f.unlink()


def copy_sqlite(src: Path, dst: Path) -> None:
    """A consistent copy of a SQLite database (WAL included), through the backup API."""
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close()
    b.close()


def spread(days: list[str], k: int) -> list[str]:
    """`k` days spread evenly over `days`, the first and the last included."""
    k = max(1, min(k, len(days)))
    if k == 1:
        return [days[len(days) // 2]]
    return sorted({days[round(i * (len(days) - 1) / (k - 1))] for i in range(k)})


def summary(result: dict[str, Any]) -> str:
    """A variant's line of progress: its measured seconds."""
    if "single" in result:  # the daemon's two kinds
        return (
            f"{result['single']['seconds']:.1f} s + "
            f"{result['per_partition']['sample_seconds']:.1f} s"
        )
    measured = result.get("sample_seconds", result["seconds"])
    return f"{measured:.1f} s, peak {result['peak_rss_mb']:.0f} MB"


def _share(part: float, whole: float) -> str:
    return f"{part:.1f} s ({100 * part / whole:.0f} %)" if whole else f"{part:.1f} s"


def _event_line(r: dict[str, Any], days: int) -> str:
    """The share of Dagster's event-log writes (in the steps and around them)."""
    n, secs, commits = r["events"], r["event_log_s"], r.get("commits", 0)
    return (
        f"    of which Dagster event-log writes (SQLite instance, in and around the steps): "
        f"{_share(secs, r['seconds'])} for {n:,} events ({n / days:.1f} a partition, "
        f"{1000 * secs / max(n, 1):.0f} ms each); {commits:,} instance-storage transactions "
        f"({commits / days:.1f} a partition)"
    )


def report(res: dict[str, Any], rows: int, days: int, csv_mb: float) -> list[str]:
    runs = res["variants"]

    def secs(v: str) -> float | None:
        return runs[v]["seconds"] if runs.get(v, {}).get("ok") else None

    single, plain = secs("single"), secs("plain")
    table = []
    for variant in VARIANTS:
        r = runs.get(variant)
        if not r:
            continue
        label = LABELS[variant] + (" (est.)" * (variant == "per_partition"))
        if not r.get("ok"):
            table.append([label, "FAILED", None, None, None, None, None, None, None])
            continue
        # Through the daemon: two rows, the runs' memory being in processes of their own.
        rows_of = (
            [
                (LABELS["daemon_single"], r["single"], None),
                (LABELS["daemon_per_partition"] + " (est.)", r["per_partition"], None),
            ]
            if variant == "daemon"
            else [(label, r, r["peak_rss_mb"])]
        )
        for name, x, peak in rows_of:
            s = x["seconds"]
            table.append(
                [
                    name,
                    x["runs"] if x.get("runs") else "-",
                    s,
                    round(days / s, 2),
                    round(rows / s),
                    peak,
                    r["rss_increase_mb"] if peak else None,
                    ratio(s, single),
                    ratio(s, plain),
                ]
            )
    headers = [
        "variant",
        "runs",
        "seconds",
        "partitions/s",
        "rows/s",
        "peak RSS MB",
        "+RSS MB",
        "time/single",
        "time/plain",
    ]
    lines = [
        f"\n== {days} daily partitions, {rows:,} rows ({rows // days:,} a day), "
        f"CSV {csv_mb:.1f} MB ==",
        format_table(headers, table),
        "  (+RSS: peak over the child's own baseline after imports; rows/s counts source rows)",
    ]
    s = runs.get("single", {})
    if s.get("ok"):
        lines.append(
            f"  single run: {s['seconds']:.1f} s = asset steps "
            f"{_share(s['asset_steps_s'], s['seconds'])}"
            f" + asset checks {_share(s['check_steps_s'], s['seconds'])}"
            f" + Dagster run overhead outside the steps "
            f"{_share(s['run_overhead_s'], s['seconds'])}"
        )
        lines.append(_event_line(s, days))
        lines.append(
            "    events by type: " + ", ".join(f"{k} {v:,}" for k, v in s["event_types"].items())
        )
        lines.append("    steps (s): " + stage_list(s["steps"]))
        lines.append("    stages (s): " + stage_list(s["stages"]))
    p = runs.get("per_partition", {})
    if p.get("ok"):
        sampled = p["sampled_runs"]
        each = [r["seconds"] for r in sampled]
        lines.append(
            f"  run per partition: EXTRAPOLATED from {len(sampled)} measured runs of {days} "
            f"({p['sample_seconds']:.1f} s in all; per run mean {statistics.fmean(each):.2f} s, "
            f"median {statistics.median(each):.2f}, min {min(each):.2f}, max {max(each):.2f}) "
            f"as the first run + mean of the others x {days - 1}"
        )
        lines.append(
            "    sampled runs, latest first (s): "
            + ", ".join(f"{r['day']} {r['seconds']:.2f}" for r in sampled)
        )
        lines.append(
            f"    estimated {p['seconds']:.0f} s = asset steps "
            f"{_share(p['asset_steps_s'], p['seconds'])} + asset checks "
            f"{_share(p['check_steps_s'], p['seconds'])} + Dagster run overhead "
            f"{_share(p['run_overhead_s'], p['seconds'])}"
        )
        lines.append(_event_line(p, days))
        rest = sampled[1:] or sampled
        mean_steps: dict[str, float] = {}
        for r in rest:
            for k, v in r["steps"].items():
                mean_steps[k] = mean_steps.get(k, 0.0) + v / len(rest)
        lines.append("    steps of a typical run (mean, s): " + stage_list(mean_steps))
        state = (
            "the single run's warehouse, cut back to the days before each run"
            if p.get("prefilled")
            else "an empty warehouse"
        )
        lines.append(
            f"    each sampled run started on {state} "
            f"(untimed cutting: {p.get('truncate_untimed_s', 0):.1f} s)"
        )
    pl = runs.get("plain", {})
    if pl.get("ok"):
        lines.append("  plain script stages (s): " + stage_list(pl["stages"]))
    d = runs.get("daemon", {})
    if d.get("ok"):
        ds, dp = d["single"], d["per_partition"]
        lines.append(
            f"  through the daemon (`dagster dev` on the instance configuration, up in "
            f"{d['startup_s']:.0f} s, untimed, sensors stopped): the single run "
            f"{ds['seconds']:.1f} s from its submission to its end = waiting "
            f"{ds['wait_to_start_s']:.1f} s for the queue to start it in a process of its own "
            f"+ the run {ds['run_s']:.1f} s"
        )
        lines.append(
            f"    runs per partition: {dp['sampled']} runs of one day submitted at once took "
            f"{dp['sample_seconds']:.1f} s (first start after {dp['first_start_s']:.1f} s, "
            f"{dp['span_s']:.1f} s from the first start to the last end, a run "
            f"{dp['mean_run_s']:.1f} s from its start to its end); EXTRAPOLATED to {days} days "
            f"as {dp['first_start_s']:.1f} + {dp['span_s']:.1f} x {days}/{dp['sampled']} = "
            f"{dp['seconds']:.0f} s"
        )
    checks = {v: r["check"] for v, r in runs.items() if r.get("ok")}
    if "per_partition" in checks:
        checks["per_partition"] = {"all": p["sample_check"], "sample": p["sample_check"]}
    if checks:
        lines.append(
            "  outputs: "
            + "; ".join(
                f"{LABELS[v]}: {c['all']['orders']:,} orders, {c['all']['rejects']:,} rejects, "
                f"revenue {c['all']['revenue']:,.2f}, {c['all']['exported_rows']:,} exported"
                + (" (sampled days)" * (v == "per_partition"))
                for v, c in checks.items()
            )
        )
        same = []
        if "single" in checks and "plain" in checks:
            a, b = checks["single"]["all"], checks["plain"]["all"]
            same.append(
                "single run = plain script over every day: "
                + ("yes" if _same(a, b) else f"NO ({a} vs {b})")
            )
        if "single" in checks and "per_partition" in checks:
            a, b = checks["single"]["sample"], checks["per_partition"]["sample"]
            same.append(
                "single run = run per partition over the sampled days: "
                + ("yes" if _same(a, b) else f"NO ({a} vs {b})")
            )
        if same:
            lines.append("  consistency: " + "; ".join(same))
    return lines


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The same outputs; revenue to the cent, summed in another order."""
    keys = ("orders", "units", "rejects", "daily_rows", "daily_orders", "exported_rows")
    return all(a[k] == b[k] for k in keys) and abs(a["revenue"] - b["revenue"]) < 0.01


def verdicts(res: dict[str, Any]) -> list[str]:
    runs = res["variants"]
    s, p, pl = (runs.get(v, {}) for v in ("single", "per_partition", "plain"))
    out = []

    def line(name: str, met: bool | None, figure: str) -> None:
        state = "n/a" if met is None else ("met" if met else "NOT MET")
        out.append(f"  {name}: {state} ({figure})")

    name = f"single run >= {MIN_PER_PARTITION_OVER_SINGLE:.0f}x faster than run per partition"
    d = runs.get("daemon", {})
    if d.get("ok"):
        ds, dp = d["single"], d["per_partition"]
        r = dp["seconds"] / ds["seconds"]
        line(
            name + ", both through the daemon",
            r >= MIN_PER_PARTITION_OVER_SINGLE,
            f"{r:.1f}x: {ds['seconds']:.1f} s vs an estimated {dp['seconds']:.0f} s "
            f"for {dp['runs']} runs",
        )
    if s.get("ok") and p.get("ok"):
        r = p["seconds"] / s["seconds"]
        line(
            name + ", both in this process (no run launches, no queue)",
            r >= MIN_PER_PARTITION_OVER_SINGLE,
            f"{r:.1f}x: {s['seconds']:.1f} s vs an estimated {p['seconds']:.0f} s "
            f"for {p['runs']} runs",
        )
    elif not d.get("ok"):
        line(name, None, "a variant failed or did not run")
    name = f"single run within {MAX_SINGLE_OVER_PLAIN}x of the plain script"
    if s.get("ok") and pl.get("ok"):
        r = s["seconds"] / pl["seconds"]
        line(
            name,
            r <= MAX_SINGLE_OVER_PLAIN,
            f"{r:.2f}x: {s['seconds']:.1f} s vs {pl['seconds']:.1f} s",
        )
    else:
        line(name, None, "a variant failed or did not run")
    return out


def main() -> None:
    ap = variants_parser(
        __doc__,
        VARIANTS,
        quick="30 days x 2,000 rows, a sample of 5",
        profile="also run the Dagster variants once more under cProfile "
        "(bench/results/backfill_<variant>.txt)",
    )
    ap.add_argument(
        "--days", type=int, default=180, help="daily partitions from 2024-01-01 (365: a year)"
    )
    ap.add_argument("--rows-per-day", type=int, default=10_000, help="rows of each day's drop")
    ap.add_argument("--sample", type=int, default=10, help="runs measured for run-per-partition")
    ap.add_argument(
        "--dagster-yaml",
        default=str(ROOT / "deploy" / "embedded" / "dagster.yaml"),
        help="the Dagster instance configuration (default: the embedded one)",
    )
    args = ap.parse_args()
    if args.child:
        child_main(args.child, child_variant, verify)
        return
    if args.quick:
        args.days, args.rows_per_day, args.sample = 30, 2_000, 5
    # In this order: the run-per-partition sample starts from the single run's warehouse.
    variants = chosen_variants(args.variants, VARIANTS)
    rows = args.days * args.rows_per_day
    work = Path(tempfile.mkdtemp(prefix="bench_backfill_"))
    started = time.perf_counter()
    results = new_results(
        days=args.days, rows_per_day=args.rows_per_day, rows=rows, sample=args.sample, variants={}
    )
    print(
        f"backfill benchmark: {args.days} days x {args.rows_per_day:,} rows = {rows:,} rows, "
        f"run-per-partition sample {args.sample}; {results['host']['python']} on "
        f"{os.cpu_count()} CPUs; work folder {work}"
    )
    try:
        t = time.perf_counter()
        days, csv_mb = write_sales_drops(work / "landing", START, args.days, rows)
        sample = spread(days, args.sample)
        print(
            f"  generated {len(days)} drops, {rows:,} rows ({csv_mb:.1f} MB) "
            f"in {time.perf_counter() - t:.1f} s; sampled days: {', '.join(sample)}"
        )
        results["csv_mb"] = round(csv_mb, 2)
        results["sampled_days"] = sample
        runner = Runner(work, work / "landing", days, sample, Path(args.dagster_yaml).resolve())
        done: dict[str, dict[str, Any]] = {}
        for variant in variants:
            prefill = None
            if variant == "per_partition" and done.get("single", {}).get("ok"):
                prefill = Path(done["single"]["warehouse"])
            done[variant] = runner.run(variant, prefill)
        for r in done.values():
            if "warehouse" in r:
                runner.drop_warehouse(r)
        results["variants"] = done
        if args.profile:
            results["profile"] = {
                v: runner.run(v, profile=True) for v in variants if v in ("single", "per_partition")
            }
            for r in results["profile"].values():
                runner.drop_warehouse(r)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    lines = report(results, rows, args.days, csv_mb)
    lines.append("\nTargets:")
    results["verdicts"] = [v.strip() for v in verdicts(results)]
    lines += ["  " + v for v in results["verdicts"]]
    if args.profile:
        lines.append(f"\ncProfile of the Dagster variants: {RESULTS_DIR}/backfill_<variant>.txt")
    save_results("backfill", results, lines, started)


if __name__ == "__main__":
    main()
