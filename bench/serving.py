"""Serving API benchmark: wrk against uvicorn on a 1M-row `sales_orders`, beside Datasette.

    .venv/bin/python bench/serving.py [--rows 1000000] [--duration 10] [--connections 32]
                                      [--repeat 3] [--engines sqlite,postgresql] [--rebuild]

Builds (once, then reuses) a SQLite file and a PostgreSQL database with ROWS sales orders over
365 daily partitions, written through the platform's warehouse writer, plus `records` derived
from them by the records asset's own SQL (for full-text search). Then, per engine, it starts
`python -m serving` (one uvicorn worker; wrk runs on a CPU of its own, the server on the others,
unless `--no-pin`) and runs wrk for: a trivial endpoint of the same app (`/ping`), the first
page, a cursor page ~90% deep, a filtered page, a search, and the 304 path.
On the SQLite file it also starts Datasette (immutable, facets off) and measures its first page
and its `_next` page at the same depth with `_nocount=1`. Every case runs `--repeat` times, the
cases taking turns; prints the medians of req/s, p50 and p99 and the ratios against the issue's
targets. Needs `wrk` (Debian package `wrk`; installed with apt-get when missing and running as
root).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote as urlquote

import httpx
import numpy as np
import psycopg
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    FIRST_PAGE_FLOOR,
    ensure_wrk,
    free_port,
    pinned,
    run_wrk,
    stop_process,
)
from bench.common import start_process as start  # noqa: E402
from core.contracts import CONTRACTS  # noqa: E402
from core.sql import timestamp_text  # noqa: E402
from core.warehouse import open_warehouse  # noqa: E402

SECRET = "bench-cursor-secret"
PG_ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/postgres")
PG_DB = "bench_serving"
DAYS = 365
START = dt.date(2024, 1, 1)
PRODUCTS = [
    "Notebook A5", "Ballpoint Pen (10-pack)", "Cable, USB-C (2m)", "Desk Lamp", "Mouse, Wireless",
    "Keyboard", "Monitor 27in", "Coffee Beans 1kg", "Mug", "Water Bottle", "Backpack",
    "Headphones", "Phone Case", "Charger 65W", "Sticky Notes", "Stapler",
    "Whiteboard Marker Set", "Laptop Stand", "HDMI Cable", "Chair Cushion",
]  # fmt: skip


# -- data ---------------------------------------------------------------------------------------
def orders_table(rows: int, seed: int = 42) -> pa.Table:
    rng = np.random.default_rng(seed)
    day_index = np.sort(rng.integers(0, DAYS, rows))
    dates = pa.array(np.datetime64(START, "D") + day_index.astype("timedelta64[D]"))
    ids = [f"ORD-{i:08d}" for i in range(rows)]
    customers = [f"CUST-{c:04d}" for c in rng.integers(0, 500, rows)]
    products = [PRODUCTS[p] for p in rng.integers(0, len(PRODUCTS), rows)]
    return pa.table(
        {
            "order_id": ids,
            "customer_id": customers,
            "product": products,
            "quantity": rng.integers(1, 11, rows),
            "price": np.round(rng.uniform(1, 250, rows), 2),
            "order_date": dates.cast(pa.date32()),
        }
    )


def build(url: str, rows: int) -> None:
    from orchestration.defs.records.assets import source_queries

    wh = open_warehouse(url)
    orders = CONTRACTS["sales_orders"]
    t = time.perf_counter()
    table = orders_table(rows)
    days = [(START + dt.timedelta(days=d)).isoformat() for d in range(DAYS)]
    wh.replace_partitions(orders, table, days)
    records = CONTRACTS["records"]
    wh.ensure_table(records)
    now = timestamp_text(dt.datetime.now(dt.UTC))
    wh.replace_from_query(
        records, source_queries(wh.dialect)["sales"], {"now": now},
        where={"source": "sales"}, slice_name="source=sales",
    )  # fmt: skip
    with wh.transaction() as conn:
        conn.execute("ANALYZE")
    print(f"  built {rows:,} orders + records on {wh.engine} in {time.perf_counter() - t:.0f}s")


def ensure_data(engine: str, rows: int, rebuild: bool, workdir: Path) -> str:
    if engine == "sqlite":
        path = workdir / "serving_bench.db"
        url = f"sqlite:///{path}"
        if rebuild or not path.exists() or _count(url) != rows:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            build(url, rows)
        return url
    url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{PG_DB}"
    if rebuild or _count(url) != rows:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{PG_DB}"')
        build(url, rows)
    return url


def _count(url: str) -> int | None:
    try:
        return open_warehouse(url).query("SELECT COUNT(*) FROM sales_orders")[0][0]
    except Exception:
        return None


# -- wrk ----------------------------------------------------------------------------------------
@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


Case = tuple[str, str, dict[str, str] | None]  # label, URL, headers


def measure(cases: dict[str, Case], args: argparse.Namespace) -> dict[str, Result]:
    """wrk on every case, `--repeat` rounds of all cases in turn; each figure is the median of
    its rounds, so a slow spell of a shared host spreads over the cases instead of hitting one."""
    runs: dict[str, list[Result]] = {name: [] for name in cases}
    for _ in range(args.repeat):
        for name, (label, url, headers) in cases.items():
            w = run_wrk(url, args.connections, args.duration, headers, cpus=args.wrk_cpus)
            runs[name].append(Result(label, w.rps, w.p50_ms, w.p99_ms, w.errors))
    results = {}
    for name, done in runs.items():
        r = results[name] = Result(
            done[0].name,
            float(np.median([x.rps for x in done])),
            float(np.median([x.p50_ms for x in done])),
            float(np.median([x.p99_ms for x in done])),
            sum(x.errors for x in done),
        )
        line = f"  {r.name:<34} {r.rps:>9.0f} req/s  p50 {r.p50_ms:>7.2f} ms"
        print(f"{line}  p99 {r.p99_ms:>7.2f} ms" + (f"  ERRORS {r.errors}" if r.errors else ""))
    return results


# -- scenarios ----------------------------------------------------------------------------------
def deep_cursor(base: str, url: str, depth: int) -> str:
    """A real `next` token of the API, moved to the row at `depth` and signed again."""
    from serving.query import encode_cursor

    first = httpx.get(f"{base}/sales/orders", params={"limit": 50}).json()
    payload_text = first["next"].split(".")[0]
    payload = json.loads(base64.urlsafe_b64decode(payload_text + "=" * (-len(payload_text) % 4)))
    wh = open_warehouse(url)
    row = wh.query(
        "SELECT CAST(order_date AS TEXT), order_id FROM sales_orders "
        f"ORDER BY order_date, order_id LIMIT 1 OFFSET {int(depth)}"
    )[0]
    payload["v"] = [str(row[0]), row[1]]
    return encode_cursor(SECRET.encode(), payload)


def bench_api(engine: str, url: str, args: argparse.Namespace) -> dict[str, Result]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, WAREHOUSE_URL=url, SERVING_CURSOR_SECRET=SECRET,
               SERVING_POOL_SIZE=str(args.pool))  # fmt: skip
    cmd = pinned([sys.executable, "-m", "serving", "--port", str(port)], args.server_cpus)
    proc = start(cmd, env, f"{base}/ping")
    try:
        depth = int(args.rows * 0.9)
        token = deep_cursor(base, url, depth)
        first = f"{base}/sales/orders?limit=50"
        etag = httpx.get(first).headers["etag"]
        deep = f"{base}/sales/orders?limit=50&cursor={token}"
        assert httpx.get(deep).status_code == 200
        filtered = f"{base}/sales/orders?limit=50&date_from=2024-07-01&min_quantity=5"
        # A selective search: one order's amount (a handful of matches among 1M records).
        amount = open_warehouse(url).query(
            "SELECT value FROM records WHERE source = 'sales' "
            "ORDER BY source_id LIMIT 1 OFFSET 4242"
        )[0][0]
        search = f"{base}/data?limit=50&search={amount}"
        assert httpx.get(search).json()["data"], "the search found nothing"
        print(
            f"\n{engine}: serving API (1 uvicorn worker, {args.connections} connections; "
            f"medians of {args.repeat} rounds; wrk on CPUs {args.wrk_cpus or 'any'}, the API on "
            f"{args.server_cpus or 'any'})"
        )
        cases: dict[str, Case] = {
            "trivial": ("trivial (/ping)", f"{base}/ping", None),
            "first": ("first page (limit 50)", first, None),
            "deep": (f"cursor page at row {depth:,}", deep, None),
            "filtered": ("filtered page", filtered, None),
            "search": ("full-text search", search, None),
            "304": ("304 (If-None-Match)", first, {"If-None-Match": etag}),
        }
        return measure(cases, args)
    finally:
        stop_process(proc)


def bench_datasette(url: str, args: argparse.Namespace) -> dict[str, Result]:
    path = Path(url.split(":///", 1)[1])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    datasette = str(Path(sys.executable).parent / "datasette")
    settings = ["--setting", "suggest_facets", "off", "--setting", "default_facet_size", "0"]
    cmd = [datasette, "serve", "-i", str(path), "--port", str(port), *settings]
    proc = start(pinned(cmd, args.server_cpus), dict(os.environ), f"{base}/-/versions.json")
    try:
        db = path.stem
        first = f"{base}/{db}/sales_orders.json?_nocount=1&_size=50"
        depth = int(args.rows * 0.9)
        row = open_warehouse(url).query(
            "SELECT order_date, order_id FROM sales_orders "
            f"ORDER BY order_date, order_id LIMIT 1 OFFSET {int(depth)}"
        )[0]
        body = httpx.get(first).json()
        assert body.get("next"), "datasette gave no _next token"
        token = ",".join(urlquote(str(v), safe="") for v in row)
        deep = f"{first}&_next={token}"
        got = httpx.get(deep).json()
        rows = got.get("rows") or []
        assert rows, f"datasette's deep page is empty: {str(got)[:200]}"
        version = subprocess.run([datasette, "--version"], capture_output=True, text=True)
        print(f"\nsqlite: {version.stdout.strip()} (immutable, facets off, _nocount=1)")
        cases: dict[str, Case] = {
            "first": ("datasette first page", first, None),
            "deep": (f"datasette _next at row {depth:,}", deep, None),
        }
        return measure(cases, args)
    finally:
        stop_process(proc)


def report(results: dict[str, dict[str, Result]]) -> None:
    print("\nTargets")
    rows = []
    for engine, r in results.items():
        if engine == "datasette":
            continue
        first_floor = FIRST_PAGE_FLOOR[engine]
        rows += [
            (engine, "deep page p50 / first page p50 <= 1.3",
             r["deep"].p50_ms / r["first"].p50_ms, r["deep"].p50_ms / r["first"].p50_ms <= 1.3),
            (engine, f"first page / trivial req/s >= {first_floor}",
             r["first"].rps / r["trivial"].rps, r["first"].rps / r["trivial"].rps >= first_floor),
            (engine, "304 / trivial req/s >= 0.8",
             r["304"].rps / r["trivial"].rps, r["304"].rps / r["trivial"].rps >= 0.8),
            (engine, "worst p99 (ms) <= 50", max(x.p99_ms for x in r.values()),
             max(x.p99_ms for x in r.values()) <= 50),
        ]  # fmt: skip
    if "datasette" in results and "sqlite" in results:
        d, s = results["datasette"], results["sqlite"]
        rows += [
            ("sqlite", "first page / Datasette first page >= 5",
             s["first"].rps / d["first"].rps, s["first"].rps / d["first"].rps >= 5),
            ("sqlite", "deep page / Datasette _next page >= 5",
             s["deep"].rps / d["deep"].rps, s["deep"].rps / d["deep"].rps >= 5),
        ]  # fmt: skip
    for engine, what, value, ok in rows:
        print(f"  {engine:<11} {what:<44} {value:>8.2f}  {'ok' if ok else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=int(os.environ.get("ROWS", 1_000_000)))
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of every case (medians)")
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="let wrk and the server share every CPU (default: wrk on the last CPU, one thread; "
        "the API or Datasette on the others)",
    )
    parser.add_argument("--pool", type=int, default=4)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--workdir", default=str(ROOT / "data" / "bench"))
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    # The load generator must not take CPU time from the server it measures: sharing two
    # cores, the server's loop stalled 40-60 ms now and then and single runs' p99 spread from
    # 20 to 117 ms. The database server stays free to use any CPU.
    pin = args.pin and len(cpus) >= 2
    args.wrk_cpus = cpus[-1:] if pin else None
    args.server_cpus = cpus[:-1] if pin else None
    ensure_wrk()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Result]] = {}
    for engine in args.engines.split(","):
        url = ensure_data(engine, args.rows, args.rebuild, workdir)
        results[engine] = bench_api(engine, url, args)
        if engine == "sqlite":
            results["datasette"] = bench_datasette(url, args)
    report(results)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {e: {k: vars(v) for k, v in r.items()} for e, r in results.items()}, indent=2
            )
        )


if __name__ == "__main__":
    main()
