"""The pipeline benchmark's two baselines, each a child process's whole job on one day's drop:

* `plain`: a script with the fastest tools - pyarrow parsing and cleaning (the cleaning rules
  written again in pyarrow and numpy), `COPY` or one `executemany` transaction with the
  secondary indexes built after, pyarrow Parquet/CSV writers - into the same tables;
* `naive`: the source documents' pandas approach - `read_csv`, `drop_duplicates`, `fillna`,
  `to_datetime`, `to_sql`, `to_parquet`/`to_csv`.
"""

from __future__ import annotations

import re
import shutil
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

from common import StageTimer, current_rss_mb, export_relpath, raw_relpath
from plain import DAY_TABLES, arrow_rows, bulk_sqlite, daily_row, sales_ddl, write_exports

SOURCE_COLUMNS = ["order_id", "customer_id", "product", "quantity", "price", "order_date"]


def child_plain(spec: dict[str, Any]) -> dict[str, Any]:
    """The same job as a plain script with the fastest tools at hand."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    conn_mod = _warehouse_module(spec["engine"])
    ddl = sales_ddl(spec["url"])
    timer = StageTimer()
    baseline = current_rss_mb()
    start = time.perf_counter()
    lake = Path(spec["lake"])
    totals = {"orders": 0, "rejects": 0}
    conn = conn_mod.connect(spec)
    try:
        for day in spec["days"]:
            raw = lake / raw_relpath(day)
            with timer.stage("raw copy"):
                raw.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(Path(spec["landing"]) / "sales" / f"sales_{day}.csv", raw)
            with timer.stage("parse (pyarrow)"):
                skipped: list[tuple[int, str, int]] = []

                def invalid(row: pa_csv.InvalidRow, out: list = skipped) -> str:
                    out.append((row.number, row.text, row.actual_columns))
                    return "skip"

                table = pa_csv.read_csv(
                    raw,
                    # Single-threaded: the only mode in which pyarrow numbers skipped lines.
                    read_options=pa_csv.ReadOptions(use_threads=False, block_size=8 << 20),
                    parse_options=pa_csv.ParseOptions(invalid_row_handler=invalid),
                    convert_options=pa_csv.ConvertOptions(
                        column_types=dict.fromkeys(SOURCE_COLUMNS, pa.string()),
                        strings_can_be_null=False,
                        quoted_strings_can_be_null=False,
                    ),
                )
                keep = np.ones(table.num_rows + len(skipped), dtype=bool)
                keep[np.asarray([n for n, _, _ in skipped], dtype=np.int64) - 2] = False
                lines = np.flatnonzero(keep) + 2
            with timer.stage("clean (pyarrow)"):
                orders, rejects = plain_clean(table, lines, skipped, day)
                del table
            daily = daily_row(day, orders)
            with timer.stage("warehouse load"):
                conn_mod.load(conn, ddl, day, orders, rejects, daily)
            with timer.stage("export parquet + csv"):
                write_exports(lake, day, orders)
            totals["orders"] += orders.num_rows
            totals["rejects"] += rejects.num_rows
            del orders, rejects
    finally:
        conn.close()
    seconds = time.perf_counter() - start
    return {
        "seconds": round(seconds, 3),
        "baseline_rss_mb": round(baseline, 1),
        "stages": timer.as_dict(),
    }


INT_RE = re.compile(r"[+-]?\d+")
DECIMAL_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
DATE_SHAPE_RE = re.compile(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])")


def plain_clean(table: Any, lines: Any, skipped: list, day: str) -> tuple[Any, Any]:
    """The cleaning rules, vectorized where the rows are many and in Python where they are few.

    Every check of a good row is one pass over a column: a clean order has a non-empty id,
    customer and product, an all-digit quantity (or none: 1), a decimal price and exactly the
    drop's day as its date. Only the rejected rows (~2 %) get their reason worked out.
    """
    import csv
    import io

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows
    t = {c: pc.utf8_trim_whitespace(table[c]).combine_chunks() for c in SOURCE_COLUMNS}
    empty = {c: pc.equal(t[c], "").to_numpy(zero_copy_only=False) for c in SOURCE_COLUMNS}
    blank = np.logical_and.reduce([empty[c] for c in SOURCE_COLUMNS])
    no_id = empty["order_id"]
    # Duplicates by order_id keep the first: the least row index of each id.
    ids = pa.table({"o": t["order_id"], "i": pa.array(np.arange(n))}).filter(~no_id)
    firsts = ids.group_by("o", use_threads=False).aggregate([("i", "min")])["i_min"]
    keep = no_id & ~blank
    keep[firsts.to_numpy()] = True
    quantity_text = pc.if_else(empty["quantity"], "1", t["quantity"])
    qty_ok = pc.utf8_is_digit(quantity_text).to_numpy(zero_copy_only=False)
    quantity = pc.cast(pc.if_else(qty_ok, quantity_text, "0"), pa.int64())
    price_ok = pc.match_substring_regex(t["price"], DECIMAL_RE.pattern.join("^$"))
    price_ok = price_ok.to_numpy(zero_copy_only=False)
    price = pc.cast(pc.if_else(price_ok, t["price"], "0"), pa.float64())
    ok = (
        keep
        & ~no_id
        & ~empty["customer_id"]
        & ~empty["product"]
        & qty_ok
        & (quantity.to_numpy() > 0)
        & price_ok
        & (price.to_numpy() >= 0)
        & pc.equal(t["order_date"], day).to_numpy(zero_copy_only=False)
    )
    orders = pa.table(
        {
            "order_id": t["order_id"].filter(ok),
            "customer_id": t["customer_id"].filter(ok),
            "product": t["product"].filter(ok),
            "quantity": quantity.filter(ok),
            "price": price.filter(ok),
            "order_date": pc.cast(t["order_date"].filter(ok), pa.date32()),
        }
    )
    bad = np.flatnonzero(keep & ~ok)
    fields = {c: t[c].take(bad).to_pylist() for c in SOURCE_COLUMNS}
    received = zip(*(table[c].take(bad).to_pylist() for c in SOURCE_COLUMNS), strict=True)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="")
    raws = []
    for row in received:
        out.seek(0)
        out.truncate()
        writer.writerow(row)
        raws.append(out.getvalue())
    reasons = [_reason(*row, day) for row in zip(*(fields[c] for c in SOURCE_COLUMNS), strict=True)]
    reject_lines = lines[bad].tolist() + [num for num, _, _ in skipped]
    reasons += [f"malformed line: {k} fields, expected 6" for _, _, k in skipped]
    raws += [text for _, text, _ in skipped]
    rejects = pa.table(
        {
            "partition_date": pa.array([date.fromisoformat(day)] * len(reject_lines), pa.date32()),
            "line": pa.array(reject_lines, pa.int64()),
            "reason": pa.array(reasons, pa.string()),
            "raw": pa.array(raws, pa.string()),
        }
    ).sort_by("line")
    return orders, rejects


def _reason(oid: str, cid: str, prod: str, q: str, p: str, d: str, day: str) -> str:
    """Why a row is rejected: the first rule it fails, in the pipeline's order."""
    q = q or "1"
    if not oid:
        return "missing order_id"
    if not cid:
        return "missing customer_id"
    if not prod:
        return "missing product"
    if not INT_RE.fullmatch(q):
        return f"invalid quantity: '{q}'"
    if int(q) <= 0:
        return f"non-positive quantity: '{q}'"
    if not p:
        return "missing price"
    if not DECIMAL_RE.fullmatch(p):
        return f"invalid price: '{p}'"
    if float(p) < 0:
        return f"negative price: '{p}'"
    if not d:
        return "missing order_date"
    try:
        parsed = datetime.strptime(d, "%Y-%m-%d").date().isoformat()
    except ValueError:
        shape = DATE_SHAPE_RE.fullmatch(d)
        return f"{'impossible' if shape else 'unparseable'} order_date: '{d}'"
    if parsed != day:
        return f"order_date outside the drop's day: '{d}'"
    return f"unparseable order_date: '{d}'"  # parses, but not as written (e.g. 2024-3-1)


def child_naive(spec: dict[str, Any]) -> dict[str, Any]:
    """The source documents' pandas approach, step by step."""
    import pandas as pd

    engine = spec["engine"]
    ddl = sales_ddl(spec["url"])
    if engine == "sqlite":
        import sqlite3

        con: Any = sqlite3.connect(spec["url"].split(":///", 1)[1])
    else:
        from sqlalchemy import create_engine, text

        con = create_engine(spec["url"].replace("postgresql://", "postgresql+psycopg://", 1))
    timer = StageTimer()
    baseline = current_rss_mb()
    start = time.perf_counter()
    lake = Path(spec["lake"])
    if engine == "sqlite":
        for stmt in ddl:
            con.execute(stmt)
        con.commit()
    else:
        with con.begin() as c:
            for stmt in ddl:
                c.execute(text(stmt))
    for day in spec["days"]:
        raw = lake / raw_relpath(day)
        with timer.stage("raw copy"):
            raw.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(spec["landing"]) / "sales" / f"sales_{day}.csv", raw)
        with timer.stage("read_csv"):
            df = pd.read_csv(raw, on_bad_lines="skip")
        with timer.stage("clean (pandas)"):
            df = df.drop_duplicates(subset="order_id", keep="first")
            for col in ["order_id", "customer_id", "product", "order_date"]:
                df[col] = df[col].astype(str).str.strip()
            df["quantity"] = pd.to_numeric(df["quantity"], errors="coerce").fillna(1)
            df["price"] = pd.to_numeric(df["price"], errors="coerce")
            df["order_date"] = pd.to_datetime(df["order_date"], format="%Y-%m-%d", errors="coerce")
            bad = (
                df["order_date"].isna()
                | df["price"].isna()
                | (df["quantity"] <= 0)
                | (df["order_date"] != pd.Timestamp(day))
            )
            rejects = df[bad]
            orders = df[~bad].copy()
            orders["quantity"] = orders["quantity"].astype("int64")
            orders["order_date"] = orders["order_date"].dt.date
            rejects = pd.DataFrame(
                {
                    "partition_date": date.fromisoformat(day),
                    "line": rejects.index + 2,
                    "reason": "invalid row",
                    "raw": rejects[SOURCE_COLUMNS].astype(str).fillna("").agg(",".join, axis=1),
                }
            )
            daily = pd.DataFrame(
                {
                    "day": [date.fromisoformat(day)],
                    "orders": [len(orders)],
                    "units": [int(orders["quantity"].sum())],
                    "revenue": [round(float((orders["quantity"] * orders["price"]).sum()), 2)],
                }
            )
        with timer.stage("to_sql"):
            orders.to_sql("sales_orders", con, if_exists="append", index=False)
            rejects.to_sql("sales_rejects", con, if_exists="append", index=False)
            daily.to_sql("sales_daily", con, if_exists="append", index=False)
            if engine == "sqlite":
                con.commit()
        with timer.stage("to_parquet + to_csv"):
            out = lake / export_relpath(day, "parquet")
            out.parent.mkdir(parents=True, exist_ok=True)
            orders.drop(columns=["order_date"]).to_parquet(out, index=False)
            out = lake / export_relpath(day, "csv")
            out.parent.mkdir(parents=True, exist_ok=True)
            orders.to_csv(out, index=False)
        del df, orders, rejects
    seconds = time.perf_counter() - start
    if engine == "sqlite":
        con.close()
    else:
        con.dispose()
    return {
        "seconds": round(seconds, 3),
        "baseline_rss_mb": round(baseline, 1),
        "stages": timer.as_dict(),
    }


class _SQLiteLoad:
    """One `executemany` per table in one WAL transaction, the secondary indexes built after."""

    @staticmethod
    def connect(spec: dict[str, Any]) -> Any:
        return bulk_sqlite(spec["url"])

    @staticmethod
    def load(conn: Any, ddl: list[str], day: str, orders: Any, rejects: Any, daily: tuple) -> None:
        conn.execute("BEGIN IMMEDIATE")
        for stmt in ddl:
            conn.execute(stmt)
        for table, col in DAY_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE {col} = ?", [day])
        indexes = _secondary_indexes(conn, ddl)  # built after the load, on a fresh table
        conn.executemany("INSERT INTO sales_orders VALUES (?, ?, ?, ?, ?, ?)", arrow_rows(orders))
        conn.executemany("INSERT INTO sales_rejects VALUES (?, ?, ?, ?)", arrow_rows(rejects))
        for stmt in indexes:
            conn.execute(stmt)
        conn.execute("INSERT OR REPLACE INTO sales_daily VALUES (?, ?, ?, ?)", daily)
        conn.execute("COMMIT")


class _PostgresLoad:
    """`COPY ... FROM STDIN (FORMAT csv)` fed by pyarrow's CSV writer, in one transaction, the
    secondary indexes built after."""

    @staticmethod
    def connect(spec: dict[str, Any]) -> Any:
        import psycopg

        return psycopg.connect(spec["url"], options="-c timezone=UTC")

    @staticmethod
    def load(conn: Any, ddl: list[str], day: str, orders: Any, rejects: Any, daily: tuple) -> None:
        import io

        import pyarrow.csv as pa_csv

        with conn.transaction():
            for stmt in ddl:
                conn.execute(stmt)
            for table, col in DAY_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE {col} = %s", [day])
            indexes = _secondary_indexes(conn, ddl)  # built after the load, on a fresh table
            for name, table in (("sales_orders", orders), ("sales_rejects", rejects)):
                buf = io.BytesIO()
                pa_csv.write_csv(table, buf, pa_csv.WriteOptions(include_header=False))
                with conn.cursor().copy(f"COPY {name} FROM STDIN WITH (FORMAT csv)") as copy:
                    copy.write(buf.getbuffer())
                del buf
            for stmt in indexes:
                conn.execute(stmt)
            conn.execute(
                "INSERT INTO sales_daily VALUES (%s, %s, %s, %s) ON CONFLICT (day) DO UPDATE "
                "SET orders = excluded.orders, units = excluded.units, revenue = excluded.revenue",
                daily,
            )


def _secondary_indexes(conn: Any, ddl: list[str]) -> list[str]:
    """Drop the non-unique indexes the DDL declares, for a bulk load into a fresh table, and
    return the statements that build them again (one sort each instead of a B-tree update per
    row), as the pipeline's own writer does for a write larger than the rest of its table."""
    statements = [s for s in ddl if s.startswith("CREATE INDEX")]
    for stmt in statements:
        conn.execute(f"DROP INDEX {stmt.split(' IF NOT EXISTS ', 1)[1].split(' ON ', 1)[0]}")
    return statements


def _warehouse_module(engine: str) -> Any:
    return _SQLiteLoad if engine == "sqlite" else _PostgresLoad
