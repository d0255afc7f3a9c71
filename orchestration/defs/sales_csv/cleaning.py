"""The sales cleaning rules, as a pure transform from a day's CSV bytes to orders and rejects.

The rules, in the source documents' order: duplicates by `order_id` keep the first; a missing
`quantity` becomes 1; a missing, unparseable or impossible `order_date` rejects the row. Around
them: whitespace is trimmed, types are enforced, and malformed lines are rejected with their line
number. Every data line of the file ends up in exactly one place: the orders, the rejects (with
its reason) or the duplicate count.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from functools import reduce

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from orchestration.contracts import ContractError
from orchestration.contracts.datasets import SALES_ORDERS, SALES_REJECTS

SOURCE_COLUMNS = ["order_id", "customer_id", "product", "quantity", "price", "order_date"]
INT_PATTERN = r"^[+-]?\d+$"
DECIMAL_PATTERN = r"^[+-]?(\d+(\.\d*)?|\.\d+)$"


@dataclass
class CleanResult:
    """Orders and rejects of one drop, with the counts that account for every line."""

    orders: pa.Table
    rejects: pa.Table
    rows_read: int
    duplicates: int
    quantity_filled: int
    blank_lines: int
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def reject_ratio(self) -> float:
        return self.rejects.num_rows / self.rows_read if self.rows_read else 0.0


@dataclass
class _SkippedLines:
    """Lines pyarrow could not map to the header: malformed ones and blank ones."""

    expected: int
    numbers: list[int] = field(default_factory=list)
    malformed: list[tuple[int, str, int]] = field(default_factory=list)
    blank: int = 0

    def __call__(self, row: pa_csv.InvalidRow) -> str:
        self.numbers.append(row.number)
        if row.text.strip():
            self.malformed.append((row.number, row.text, row.actual_columns))
        else:
            self.blank += 1
        return "skip"


def read_drop(data: bytes | pa.NativeFile) -> tuple[pa.Table, np.ndarray, _SkippedLines]:
    """Parse a drop into string columns, returning each row's physical line number."""
    skipped = _SkippedLines(expected=len(SOURCE_COLUMNS))
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    table = pa_csv.read_csv(
        source,
        # Single-threaded so that pyarrow reports the line number of every skipped line.
        read_options=pa_csv.ReadOptions(use_threads=False, block_size=8 << 20),
        parse_options=pa_csv.ParseOptions(invalid_row_handler=skipped, ignore_empty_lines=False),
        convert_options=pa_csv.ConvertOptions(
            column_types=dict.fromkeys(SOURCE_COLUMNS, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    if table.column_names != SOURCE_COLUMNS:
        raise ContractError(f"sales drop header is {table.column_names}, expected {SOURCE_COLUMNS}")
    total = table.num_rows + len(skipped.numbers)
    # A mask, not np.setdiff1d: setdiff1d hashes a million ints (~1.7 s) to drop ~1,000.
    parsed = np.ones(total, dtype=bool)
    parsed[np.asarray(skipped.numbers, dtype=np.int64) - 2] = False
    lines = np.flatnonzero(parsed) + 2
    return table, lines, skipped


def _quoted(prefix: str, values: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.binary_join_element_wise(prefix + ": '", values, "'", "")


def _raw_lines(table: pa.Table) -> list[str]:
    """Re-encode rows as CSV text, exactly as the fields were received."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    rows = zip(*(table.column(c).to_pylist() for c in SOURCE_COLUMNS), strict=True)
    lines = []
    for row in rows:
        out.seek(0)
        out.truncate()
        writer.writerow(row)
        lines.append(out.getvalue().rstrip("\n"))
    return lines


def clean_sales(data: bytes | pa.NativeFile, day: date) -> CleanResult:
    """Clean one day's drop; see the module docstring for the rules."""
    raw, lines, skipped = read_drop(data)
    trimmed = pa.table(
        {c: pc.utf8_trim_whitespace(raw.column(c)) for c in SOURCE_COLUMNS}
    ).append_column("_line", pa.array(lines, pa.int64()))
    raw = raw.append_column("_line", pa.array(lines, pa.int64()))
    # A blank line parses as a row of empty fields: it is no row at all.
    blank = reduce(pc.and_, (pc.equal(trimmed[c], "") for c in SOURCE_COLUMNS))
    blank_lines = pc.sum(blank).as_py() or 0
    if blank_lines:
        trimmed, raw = trimmed.filter(pc.invert(blank)), raw.filter(pc.invert(blank))

    # Rule 0: a row without an order_id has no identity to deduplicate on.
    no_id = pc.equal(trimmed["order_id"], "")
    # Rule 1: duplicates by order_id keep the first occurrence.
    idx = pa.array(np.arange(trimmed.num_rows), pa.int64())
    with_idx = trimmed.append_column("_idx", idx)
    firsts = (
        with_idx.filter(pc.invert(no_id))
        .group_by("order_id", use_threads=False)
        .aggregate([("_idx", "min")])["_idx_min"]
    )
    first = np.zeros(trimmed.num_rows, dtype=bool)
    first[firsts.to_numpy()] = True  # a scatter, not pc.is_in over every row
    keep = pc.or_(no_id, pa.array(first))
    duplicates = trimmed.num_rows - pc.sum(keep).as_py() if trimmed.num_rows else 0
    trimmed, raw = trimmed.filter(keep), raw.filter(keep)

    # Rule 2: a missing quantity becomes 1.
    qty_missing = pc.equal(trimmed["quantity"], "")
    quantity_filled = pc.sum(qty_missing).as_py() or 0
    qty_text = pc.if_else(qty_missing, "1", trimmed["quantity"])

    # Rule 3: a missing, unparseable or impossible order_date rejects the row.
    date_text = trimmed["order_date"]
    parsed = pc.strptime(date_text, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls 2024-02-30 over to 2 March: a real date prints back as it was written.
    roundtrip = pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), date_text)
    order_date = pc.cast(parsed, pa.date32())

    qty_ok = pc.match_substring_regex(qty_text, INT_PATTERN)
    price_text = trimmed["price"]
    price_ok = pc.match_substring_regex(price_text, DECIMAL_PATTERN)
    quantity = pc.cast(pc.if_else(qty_ok, qty_text, "0"), pa.int64())
    price = pc.cast(pc.if_else(price_ok, price_text, "0"), pa.float64())

    day_scalar = pa.scalar(day, pa.date32())
    failed_checks = [
        no_id.filter(keep),
        pc.equal(trimmed["customer_id"], ""),
        pc.equal(trimmed["product"], ""),
        pc.invert(qty_ok),
        pc.less_equal(quantity, 0),
        pc.equal(price_text, ""),
        pc.invert(price_ok),
        pc.less(price, 0),
        pc.equal(date_text, ""),
        pc.is_null(parsed),
        pc.invert(roundtrip),
        pc.not_equal(order_date, day_scalar),
    ]
    failed_checks = [pc.fill_null(f, False) for f in failed_checks]
    ok = pc.invert(reduce(pc.or_, failed_checks))
    # Reason texts only for the rejected rows (~2 %), not for every row.
    bad = pc.invert(ok)
    q_bad, p_bad, d_bad = (pc.filter(a, bad) for a in (qty_text, price_text, date_text))
    texts: list[pa.ChunkedArray | str] = [
        "missing order_id",
        "missing customer_id",
        "missing product",
        _quoted("invalid quantity", q_bad),
        _quoted("non-positive quantity", q_bad),
        "missing price",
        _quoted("invalid price", p_bad),
        _quoted("negative price", p_bad),
        "missing order_date",
        _quoted("unparseable order_date", d_bad),
        _quoted("impossible order_date", d_bad),
        _quoted("order_date outside the drop's day", d_bad),
    ]
    bad_reasons = pa.nulls(pc.sum(bad).as_py() or 0, pa.string())
    for failed, text in zip(failed_checks, texts, strict=True):
        failed = pc.filter(failed, bad)
        bad_reasons = pc.if_else(pc.and_(pc.is_null(bad_reasons), failed), text, bad_reasons)

    orders = SALES_ORDERS.conform(
        pa.table(
            {
                "order_id": trimmed["order_id"],
                "customer_id": trimmed["customer_id"],
                "product": trimmed["product"],
                "quantity": quantity,
                "price": price,
                "order_date": order_date,
            }
        ).filter(ok)
    )

    bad_raw = raw.filter(bad)
    malformed = skipped.malformed
    reject_lines = bad_raw["_line"].to_pylist() + [n for n, _, _ in malformed]
    reject_reasons = bad_reasons.to_pylist() + [
        f"malformed line: {actual} fields, expected {skipped.expected}"
        for _, _, actual in malformed
    ]
    reject_raw = _raw_lines(bad_raw) + [text for _, text, _ in malformed]
    rejects = SALES_REJECTS.conform(
        pa.table(
            {
                "partition_date": pa.array([day] * len(reject_lines), pa.date32()),
                "line": pa.array(reject_lines, pa.int64()),
                "reason": pa.array(reject_reasons, pa.string()),
                "raw": pa.array(reject_raw, pa.string()),
            }
        ).sort_by("line")
    )
    reasons = Counter(r.split(":", 1)[0] for r in reject_reasons)
    return CleanResult(
        orders=orders,
        rejects=rejects,
        rows_read=raw.num_rows + duplicates + len(malformed),
        duplicates=duplicates,
        quantity_filled=quantity_filled,
        blank_lines=blank_lines + skipped.blank,
        reasons=reasons,
    )
