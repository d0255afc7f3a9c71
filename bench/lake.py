"""The lake's Delta tables: publishing a sales day, and querying 30 days, each beside a baseline
measured in the same run.

    .venv/bin/python bench/lake.py                 # a 1M-row day; 30 days x 50,000 rows queried
    .venv/bin/python bench/lake.py --quick         # a smoke run (20,000 rows; 5 days x 5,000)
    .venv/bin/python bench/lake.py --breakdown     # also: where a Delta write's time goes

1. Publishing: the cleaned `--rows`-row sales drop of one day (as `clean_sales` leaves it, in the
   warehouse's key order, as `lake/sales_orders` reads it back) replaces its partition of the
   `sales_orders` Delta table as `lake/sales_orders` publishes it (`LakeTable.publish`: the file
   written by pyarrow, the overwrite of the partition `order_date = '<day>'` committed by
   delta-rs), into a table that already holds three other days of the same size and the day. The
   baseline writes the same Arrow table to one Parquet file with `pyarrow.parquet.write_table`.
   Both are timed in turns (the order alternating), `--repeat` times each; the median gives the
   rows/s. Read `Delta / plain`: the share of a bare Parquet write's speed that publishing keeps
   (the target is 0.8 or more on the large day). A `--small-rows` day (~1,000 rows) is timed the
   same way, three times as often: there the fixed cost of a commit dominates.
   `--breakdown` adds delta-rs's own writer on the large day (`write_deltalake`: a new table,
   partitioned or not, a predicate overwrite, with other `WriterProperties`), each against the
   same plain write: why the lake writes the file with pyarrow.
2. Querying: revenue per day and product (`SUM(quantity * price)` grouped by `order_date` and
   `product`) over `--days` days of `--day-rows` drop rows each, in DuckDB over `delta_scan` of the
   lake (the delta extension loaded offline from the `duckdb_extension_delta` package), beside the
   same SQL on the warehouse the lake was published from: SQLite through `sqlite3`, and PostgreSQL
   through `psycopg` when `BENCH_POSTGRES_URL` (default 127.0.0.1:5432) answers, in a database of
   its own dropped at the end. Each engine answers once untimed ("first", a fresh connection),
   then `--repeat` times in turns; the engines' answers must agree. Read `vs lake`: that engine's
   median time over DuckDB's on the lake (above 1: the lake answers faster).

The host's load average is printed: on a shared host the absolute figures move, the ratios (both
sides measured in turns in one run) much less. Results: printed, and `bench/results/lake.json`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import duckdb_extension_delta
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import ColumnProperties, WriterProperties, write_deltalake

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, format_table
from harness import drop_postgres, fresh_postgres, postgres_unreachable

from core.contracts.datasets import SALES_ORDERS
from core.warehouse import open_warehouse
from orchestration.defs.lake.tables import lake_table
from orchestration.defs.sales_csv.cleaning import clean_sales
from orchestration.storage.delta import DeltaLake
from sample_sources.sales import generate_day

START = date(2024, 3, 1)
TABLE = lake_table("sales_orders")
OTHER_DAYS = 3  # days the table holds beside the one replaced
TARGET_VS_PLAIN = 0.8
PG_DB = "bench_lake"
DELTA_EXTENSION = (
    Path(duckdb_extension_delta.__file__).parent
    / "extensions"
    / f"v{duckdb.__version__}"
    / "delta.duckdb_extension"
)
BREAKDOWN_LABELS = {
    "delta": "DeltaLake.replace_partition (pyarrow file, delta-rs commit)",
    "plain": "pyarrow.parquet.write_table (the baseline)",
}
# One SQL for every engine (SQLite has no GROUP BY ALL); only the FROM differs.
REVENUE_SQL = (
    "SELECT order_date, product, SUM(quantity * price) AS revenue FROM {source} "
    "GROUP BY order_date, product ORDER BY order_date, product"
)


def sales_day(day: date, rows: int) -> pa.Table:
    """One day's drop of `rows` lines, cleaned, in the warehouse's key order."""
    orders = clean_sales(generate_day(day, rows).encode(), day).orders
    return SALES_ORDERS.conform(orders).sort_by([("order_id", "ascending")])


def redated(table: pa.Table, day: date) -> pa.Table:
    """`table`'s rows as another day's."""
    column = pa.repeat(pa.scalar(day, pa.date32()), table.num_rows)
    index = table.schema.get_field_index(TABLE.partition_by)
    return table.set_column(index, table.schema.field(index), column)


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"host load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} CPUs"


# -- 1. publishing a day ---------------------------------------------------------------------------
def replace(lake: DeltaLake, data: pa.Table, day: date) -> None:
    TABLE.publish(lake, data, day.isoformat())


def breakdown_variants(
    lake: DeltaLake, work: Path, data: pa.Table, day: date
) -> dict[str, Callable[[], Any]]:
    """Variants of the Delta write of `data`, to see where its time goes."""
    uri, predicate = lake.uri(TABLE.name), f"{TABLE.partition_by} = '{day.isoformat()}'"

    def fresh_table(**kwargs: Any) -> Callable[[], None]:
        return lambda: write_deltalake(work / "fresh" / uuid.uuid4().hex, data, **kwargs)

    def overwrite(**properties: Any) -> Callable[[], None]:
        props = WriterProperties(**properties) if properties else None
        return lambda: write_deltalake(
            uri,
            data,
            mode="overwrite",
            partition_by=[TABLE.partition_by],
            predicate=predicate,
            writer_properties=props,
        )

    return {
        "write_deltalake, new unpartitioned table": fresh_table(),
        "write_deltalake, new table by order_date": fresh_table(partition_by=[TABLE.partition_by]),
        "write_deltalake, predicate overwrite": overwrite(),
        "  + statistics_enabled=NONE": overwrite(
            default_column_properties=ColumnProperties(statistics_enabled="NONE")
        ),
        "  + compression=LZ4_RAW": overwrite(compression="LZ4_RAW"),
        "  + compression=UNCOMPRESSED": overwrite(compression="UNCOMPRESSED"),
        "  + write_batch_size=65536": overwrite(write_batch_size=65536),
    }


def measure_publish(
    lake: DeltaLake, work: Path, data: pa.Table, day: date, repeat: int, breakdown: bool
) -> dict[str, list[float]]:
    """Seconds of each way of writing `data`, `repeat` times each, in turns."""
    plain_path = work / "plain.parquet"
    variants: dict[str, Callable[[], Any]] = {
        "delta": lambda: replace(lake, data, day),
        "plain": lambda: pq.write_table(data, plain_path),
    }
    if breakdown:
        variants |= breakdown_variants(lake, work, data, day)
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for i in range(repeat):
        # Alternate the order, so that neither side always follows the other's page cache work.
        for name in list(variants)[:: 1 if i % 2 == 0 else -1]:
            seconds[name].append(timed(variants[name]))
        shutil.rmtree(work / "fresh", ignore_errors=True)
    return seconds


def run_publish(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    lake = DeltaLake(str(work / "lake"))
    t = time.perf_counter()
    large = sales_day(START, args.rows)
    small = sales_day(START + timedelta(days=1), args.small_rows)
    print(
        f"  cleaned {large.num_rows:,} of {args.rows:,} rows and {small.num_rows:,} of "
        f"{args.small_rows:,} in {time.perf_counter() - t:.1f} s"
    )
    for i in range(OTHER_DAYS):
        other = START - timedelta(days=i + 1)
        replace(lake, redated(large, other), other)
    days = {"large": (large, START), "small": (small, START + timedelta(days=1))}
    for data, day in days.values():
        replace(lake, data, day)
    print(f"  Delta table holds {lake.state(TABLE.name).rows:,} rows in {OTHER_DAYS + 2} days")
    out: dict[str, Any] = {}
    for label, (data, day) in days.items():
        repeat = args.repeat if label == "large" else args.repeat * 3
        seconds = measure_publish(
            lake, work, data, day, repeat, args.breakdown and label == "large"
        )
        out[label] = {"rows": data.num_rows, "repeat": repeat, "seconds": seconds}
    state = lake.state(TABLE.name)
    expected = (OTHER_DAYS + 1) * large.num_rows + small.num_rows
    if state.rows != expected:
        raise SystemExit(f"the Delta table holds {state.rows:,} rows, not {expected:,}")
    out["table"] = {"version": state.version, "files": state.files, "rows": state.rows}
    return out


def publish_report(res: dict[str, Any]) -> list[str]:
    rows, lines = [], []
    for label in ("large", "small"):
        r = res[label]
        delta, plain = median(r["seconds"]["delta"]), median(r["seconds"]["plain"])
        rows.append(
            [
                f"{r['rows']:,} rows",
                r["repeat"],
                delta * 1000,
                r["rows"] / delta,
                plain * 1000,
                r["rows"] / plain,
                round(plain / delta, 2),
            ]
        )
    lines.append(
        format_table(
            ["day", "runs", "Delta ms", "Delta rows/s", "plain ms", "plain rows/s", "Delta/plain"],
            rows,
        )
    )
    ratio = rows[0][-1]
    verdict = "holds" if ratio >= TARGET_VS_PLAIN else "does NOT hold"
    lines.append(f"target Delta >= {TARGET_VS_PLAIN}x plain rows/s on the large day: {verdict}")
    large = res["large"]
    if len(large["seconds"]) > 2:
        plain = median(large["seconds"]["plain"])
        lines.append(
            f"\nwhere a Delta write's time goes ({large['rows']:,} rows, same plain write):"
        )
        lines.append(
            format_table(
                ["variant", "ms", "vs plain"],
                [
                    [
                        BREAKDOWN_LABELS.get(name, name),
                        median(s) * 1000,
                        round(plain / median(s), 2),
                    ]
                    for name, s in large["seconds"].items()
                ],
            )
        )
    return lines


# -- 2. querying the lake and the warehouse -------------------------------------------------------
@contextmanager
def postgres_database() -> Iterator[str | None]:
    """The URL of a fresh database of its own (dropped on exit), or None when unreachable."""
    if why := postgres_unreachable():
        print(f"  PostgreSQL skipped: {why}")
        yield None
        return
    try:
        yield fresh_postgres(PG_DB)
    finally:
        drop_postgres(PG_DB)


def duckdb_on_lake(uri: str, stack: ExitStack) -> Callable[[], list[tuple]]:
    conn = stack.enter_context(duckdb.connect())
    conn.execute(f"LOAD '{DELTA_EXTENSION}'")
    sql = REVENUE_SQL.format(source=f"delta_scan('{uri}')")
    return lambda: conn.execute(sql).fetchall()


def sqlite_warehouse(path: Path, stack: ExitStack) -> Callable[[], list[tuple]]:
    conn = stack.enter_context(closing(sqlite3.connect(path)))
    sql = REVENUE_SQL.format(source=TABLE.name)
    return lambda: conn.execute(sql).fetchall()


def postgres_warehouse(url: str, stack: ExitStack) -> Callable[[], list[tuple]]:
    import psycopg

    conn = stack.enter_context(psycopg.connect(url, autocommit=True))
    # A warehouse in its steady state: statistics gathered, hint bits and visibility map set.
    conn.execute(f"VACUUM ANALYZE {TABLE.name}")
    sql = REVENUE_SQL.format(source=TABLE.name)
    return lambda: conn.execute(sql).fetchall()


def same_answers(a: list[tuple], b: list[tuple]) -> bool:
    return len(a) == len(b) and all(
        str(x[0]) == str(y[0]) and x[1] == y[1] and math.isclose(x[2], y[2], rel_tol=1e-9)
        for x, y in zip(a, b, strict=True)
    )


def run_query(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    days = [START + timedelta(days=i) for i in range(args.days)]
    sqlite_path = work / "warehouse.db"
    lake = DeltaLake(str(work / "query_lake"))
    with postgres_database() as pg_url, ExitStack() as stack:
        warehouses = [open_warehouse(f"sqlite:///{sqlite_path}")]
        if pg_url:
            warehouses.append(open_warehouse(pg_url))
        t, rows = time.perf_counter(), 0
        for day in days:
            data = sales_day(day, args.day_rows)
            rows += data.num_rows
            for wh in warehouses:
                wh.replace_partitions(SALES_ORDERS, data, [day.isoformat()])
            # As `lake/sales_orders` publishes a day: the warehouse's rows, read back.
            published = warehouses[0].read(SALES_ORDERS, [day.isoformat()], order_by=TABLE.order_by)
            replace(lake, TABLE.rows(published), day)
        print(
            f"  {len(days)} days, {rows:,} rows in the warehouse ({len(warehouses)} engines) "
            f"and the lake in {time.perf_counter() - t:.1f} s"
        )
        engines = {
            "DuckDB, delta_scan of the lake": duckdb_on_lake(lake.uri(TABLE.name), stack),
            "SQLite warehouse (sqlite3)": sqlite_warehouse(sqlite_path, stack),
        }
        if pg_url:
            engines["PostgreSQL warehouse (psycopg)"] = postgres_warehouse(pg_url, stack)
        first, answers = {}, {}
        for name, query in engines.items():
            start = time.perf_counter()
            answers[name] = query()
            first[name] = time.perf_counter() - start
        reference = next(iter(answers.values()))
        for name, answer in answers.items():
            if not same_answers(reference, answer):
                raise SystemExit(f"{name} answers differently from the lake")
        seconds: dict[str, list[float]] = {name: [] for name in engines}
        for i in range(args.repeat):
            for name in list(engines)[:: 1 if i % 2 == 0 else -1]:
                seconds[name].append(timed(engines[name]))
    return {
        "days": len(days),
        "drop_rows_per_day": args.day_rows,
        "rows": rows,
        "groups": len(reference),
        "first_seconds": first,
        "seconds": seconds,
    }


def query_report(res: dict[str, Any]) -> list[str]:
    lake = median(next(iter(res["seconds"].values())))
    rows = [
        [name, res["first_seconds"][name] * 1000, median(s) * 1000, round(median(s) / lake, 2)]
        for name, s in res["seconds"].items()
    ]
    return [format_table(["engine", "first ms", "median ms", "vs lake"], rows)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows of the large day's drop")
    ap.add_argument("--small-rows", type=int, default=1_000, help="rows of the small day's drop")
    ap.add_argument("--days", type=int, default=30, help="days the query reads")
    ap.add_argument("--day-rows", type=int, default=50_000, help="drop rows of each queried day")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs of each variant (median)")
    ap.add_argument("--breakdown", action="store_true", help="variants of the Delta write")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 20,000 rows, 5 x 5,000")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    if args.quick:
        args.rows, args.days, args.day_rows, args.repeat = 20_000, 5, 5_000, 3
    work = Path(tempfile.mkdtemp(prefix="bench_lake_"))
    results: dict[str, Any] = {
        "args": vars(args),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "load_average_at_start": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    print(f"lake benchmark; work folder {work}; {load_note()}")
    try:
        print("\n1. publishing a day")
        results["publish"] = run_publish(args, work)
        print("\n2. revenue per day and product")
        results["query"] = run_query(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    results["load_average_at_end"] = os.getloadavg()
    pub, query = results["publish"], results["query"]
    print(
        f"\nPublishing a day into a Delta table of {OTHER_DAYS + 2} days (replace_partition) "
        "vs pyarrow.parquet.write_table of the same Arrow table, median:"
    )
    print("\n".join(publish_report(pub)))
    print(
        f"\nRevenue per day and product over {query['days']} days x {query['drop_rows_per_day']:,} "
        f"drop rows ({query['rows']:,} clean rows, {query['groups']} groups), "
        f"median of {args.repeat}:"
    )
    print("\n".join(query_report(query)))
    print(load_note())
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / "lake.json"
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"results: {out}")


if __name__ == "__main__":
    main()
