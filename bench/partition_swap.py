"""Publishing a day on PostgreSQL: a DELETE and INSERT in one table, beside a partition swap in a
declaratively partitioned one, in the same run.

    .venv/bin/python bench/partition_swap.py               # two days of 1M rows each
    .venv/bin/python bench/partition_swap.py --rows 200000 --repeat 3

Each variant starts from a table holding two days of `--rows` rows (the `sales_orders` columns,
its primary key and its customer index) and replaces the second day with a new version of the
same size, in one transaction, as the sales write does:

* `delete + insert`: one table; `DELETE` the day's rows, then insert the new ones;
* `partitioned, delete + insert`: the same statements on a table `PARTITION BY LIST (order_date)`;
* `partition swap`: the new version loaded into a table of its own (with a `CHECK` that names its
  day, so `ATTACH` need not scan it), then the old partition detached and dropped and the new one
  attached.

The rows are made inside the server (`generate_series`), the same way for every variant, so the
figures compare the publishing, not the client. Results: printed, and
`bench/results/partition_swap.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, format_table
from harness import drop_postgres, fresh_postgres

DB = "bench_partition_swap"
DAYS = ("2024-03-01", "2024-03-02")
COLUMNS = (
    "order_id TEXT NOT NULL, customer_id TEXT NOT NULL, product TEXT NOT NULL, "
    "quantity BIGINT NOT NULL, price DOUBLE PRECISION NOT NULL, order_date DATE NOT NULL"
)


def rows_sql(table: str, day: str, rows: int, version: str) -> str:
    return (
        f"INSERT INTO {table} SELECT 'ORD-{version}-' || n, 'CUST-' || (n % 5000), "
        f"'Product ' || (n % 20), 1 + n % 7, (n % 1000) / 10.0, DATE '{day}' "
        f"FROM generate_series(1, {rows}) AS n"
    )


def setup(conn: psycopg.Connection, partitioned: bool, rows: int) -> None:
    conn.execute("DROP TABLE IF EXISTS orders CASCADE")
    if partitioned:
        conn.execute(
            f"CREATE TABLE orders ({COLUMNS}, PRIMARY KEY (order_date, order_id)) "
            "PARTITION BY LIST (order_date)"
        )
        for i, day in enumerate(DAYS):
            conn.execute(f"CREATE TABLE orders_{i} PARTITION OF orders FOR VALUES IN ('{day}')")
    else:
        conn.execute(f"CREATE TABLE orders ({COLUMNS}, PRIMARY KEY (order_date, order_id))")
    conn.execute("CREATE INDEX ix_orders_customer ON orders (customer_id)")
    for day in DAYS:
        conn.execute(rows_sql("orders", day, rows, "old"))
    conn.execute("ANALYZE orders")
    conn.commit()


def delete_insert(conn: psycopg.Connection, rows: int) -> None:
    with conn.transaction():
        conn.execute("DELETE FROM orders WHERE order_date = %s", [DAYS[1]])
        conn.execute(rows_sql("orders", DAYS[1], rows, "new"))


def swap(conn: psycopg.Connection, rows: int) -> None:
    day = DAYS[1]
    with conn.transaction():
        conn.execute(
            f"CREATE TABLE orders_next ({COLUMNS}, PRIMARY KEY (order_date, order_id), "
            f"CHECK (order_date = DATE '{day}'))"
        )
        conn.execute(rows_sql("orders_next", day, rows, "new"))
        conn.execute("CREATE INDEX ON orders_next (customer_id)")
        conn.execute("ALTER TABLE orders DETACH PARTITION orders_1")
        conn.execute("DROP TABLE orders_1")
        conn.execute("ALTER TABLE orders_next RENAME TO orders_1")
        conn.execute(f"ALTER TABLE orders ATTACH PARTITION orders_1 FOR VALUES IN ('{day}')")


VARIANTS = {
    "delete + insert": (False, delete_insert),
    "partitioned, delete + insert": (True, delete_insert),
    "partition swap": (True, swap),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows per day")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each variant (median)")
    args = ap.parse_args()
    url = fresh_postgres(DB)
    seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    try:
        with psycopg.connect(url) as conn:
            for _ in range(args.repeat):
                # The variants take turns, so a busy moment of the host falls on each alike.
                for name, (partitioned, publish) in VARIANTS.items():
                    setup(conn, partitioned, args.rows)
                    start = time.perf_counter()
                    publish(conn, args.rows)
                    seconds[name].append(time.perf_counter() - start)
                    count = conn.execute(
                        "SELECT COUNT(*) FROM orders WHERE order_id LIKE 'ORD-new-%%'"
                    ).fetchone()[0]
                    assert count == args.rows, (name, count)
                    conn.commit()
    finally:
        drop_postgres(DB)
    base = statistics.median(seconds["delete + insert"])
    table = [
        [
            name,
            round(statistics.median(s), 2),
            round(args.rows / statistics.median(s)),
            round(statistics.median(s) / base, 2),
        ]
        for name, s in seconds.items()
    ]
    print(
        f"\nPublishing one day of {args.rows:,} rows beside another, PostgreSQL, "
        f"median of {args.repeat}:"
    )
    print(format_table(["variant", "seconds", "rows/s", "vs delete + insert"], table))
    load = os.getloadavg()
    print(f"host load average at end: {load[0]:.1f}, {load[1]:.1f} on {os.cpu_count()} CPUs")
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / "partition_swap.json"
    out.write_text(json.dumps({"rows": args.rows, "seconds": seconds}, indent=2) + "\n")
    print(f"results: {out}")


if __name__ == "__main__":
    main()
