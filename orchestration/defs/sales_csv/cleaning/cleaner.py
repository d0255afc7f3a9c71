"""`DropCleaner`: a drop's CSV blocks (`csv_blocks`) through the rules (`rules`, with the
duplicates told by `duplicates`) to the clean orders, block by block, and the rejects with the
counts that account for every line."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.contracts.datasets import SALES_ORDERS, SALES_REJECTS
from orchestration.defs.sales_csv.cleaning.csv_blocks import (
    BLOCK_BYTES,
    SOURCE_COLUMNS,
    SkippedLines,
    Utf8Stream,
    csv_blocks,
    raw_lines,
)
from orchestration.defs.sales_csv.cleaning.duplicates import SeenIds
from orchestration.defs.sales_csv.cleaning.rules import empty, numbers, reject_reasons, valid


@dataclass
class CleanResult:
    """Orders and rejects of one drop, with the counts that account for every line."""

    orders: pa.Table  # empty when the orders were streamed out block by block
    orders_written: int
    rejects: pa.Table
    rows_read: int
    duplicates: int
    quantity_filled: int
    blank_lines: int
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def reject_ratio(self) -> float:
        return self.rejects.num_rows / self.rows_read if self.rows_read else 0.0


class DropCleaner:
    """Cleans one day's drop block by block.

    Iterate `orders()` for the clean orders, one block at a time; once it is exhausted,
    `result()` gives the rejects and the counts.
    """

    def __init__(
        self, data: bytes | pa.NativeFile, day: date, block_bytes: int = BLOCK_BYTES
    ) -> None:
        self.day = day
        self.source = Utf8Stream(io.BytesIO(data) if isinstance(data, bytes) else data)
        self.block_bytes = block_bytes
        self.skipped = SkippedLines(expected=len(SOURCE_COLUMNS))
        self.seen = SeenIds()  # order ids kept so far, for duplicates across blocks
        self.parsed = 0
        self.counts: Counter[str] = Counter()
        self.bad_rows: list[np.ndarray] = []
        self.bad_reasons: list[str] = []
        self.bad_raw: list[str] = []
        self.orders_written = 0
        self.done = False

    def orders(self) -> Iterator[pa.Table]:
        for raw in csv_blocks(self.source, self.block_bytes, self.skipped):
            orders = self._clean_block(raw)
            self.orders_written += orders.num_rows
            if orders.num_rows:
                yield orders
        self.done = True

    def _clean_block(self, raw: pa.Table) -> pa.Table:
        """The block's clean orders; its rejected rows are kept for `result()`.

        Every check is a mask over the whole block and the orders are cut out once at the end;
        why a row fails is worked out only for the rejected rows (~2 %), in `_reject`.
        """
        first_row, n = self.parsed, raw.num_rows
        self.parsed += n
        col = {c: pc.utf8_trim_whitespace(raw.column(c).combine_chunks()) for c in SOURCE_COLUMNS}
        missing = {c: empty(col[c]) for c in SOURCE_COLUMNS}
        # A blank line parses as a row of empty fields: it is no row at all.
        blank = np.logical_and.reduce([missing[c] for c in SOURCE_COLUMNS])
        self.counts["blank_lines"] += int(blank.sum())
        # Rule 0: a row without an order_id has no identity to deduplicate on (it is rejected).
        # Rule 1: duplicates by order_id keep the first occurrence, in this block or before.
        with_id = ~blank & ~missing["order_id"]
        duplicate = np.zeros(n, dtype=bool)
        ids = col["order_id"].filter(pa.array(with_id))
        duplicate[with_id] = ~self.seen.first_sightings(ids)
        keep = ~blank & ~duplicate
        self.counts["duplicates"] += int(duplicate.sum())
        # Rule 2: a missing quantity becomes 1.
        self.counts["quantity_filled"] += int((keep & missing["quantity"]).sum())
        typed = numbers(
            pc.if_else(pa.array(missing["quantity"]), "1", col["quantity"]), col["price"]
        )
        # Rule 3 (a missing, unparseable or impossible order_date rejects the row) and the types.
        good = keep & valid(col, missing, typed, self.day, self.source.replaced)
        bad = np.flatnonzero(keep & ~good)
        if len(bad):
            self._reject(raw, bad, first_row, {c: col[c].take(pa.array(bad)) for c in col})
        mask = pa.array(good)
        return SALES_ORDERS.conform(
            pa.table(
                {
                    "order_id": col["order_id"].filter(mask),
                    "customer_id": col["customer_id"].filter(mask),
                    "product": col["product"].filter(mask),
                    "quantity": typed.quantity.filter(mask),
                    "price": typed.price.filter(mask),
                    "order_date": pa.repeat(pa.scalar(self.day, pa.date32()), int(good.sum())),
                }
            )
        )

    def _reject(
        self, raw: pa.Table, positions: np.ndarray, first_row: int, bad: dict[str, pa.Array]
    ) -> None:
        """Keep the block's rejected rows (at `positions`, with `bad` their trimmed fields):
        where they are, why (the first rule each fails) and the row as received."""
        reasons = reject_reasons(bad, self.day, self.source.replaced)
        self.bad_rows.append(positions + first_row)
        self.bad_reasons += reasons.to_pylist()
        self.bad_raw += raw_lines(raw.take(pa.array(positions)))

    def result(self, orders: pa.Table | None = None) -> CleanResult:
        """The rejects and the counts; call it once `orders()` is exhausted."""
        if not self.done:
            raise RuntimeError("result() before orders() was read to the end")
        malformed = self.skipped.malformed
        bad_rows = np.concatenate(self.bad_rows) if self.bad_rows else np.empty(0, np.int64)
        lines = self.skipped.line_numbers(bad_rows).tolist() + [n for n, _, _ in malformed]
        reasons = self.bad_reasons + [
            f"malformed line: {actual} fields, expected {self.skipped.expected}"
            for _, _, actual in malformed
        ]
        rejects = SALES_REJECTS.conform(
            pa.table(
                {
                    "partition_date": pa.repeat(pa.scalar(self.day, pa.date32()), len(lines)),
                    "line": pa.array(lines, pa.int64()),
                    "reason": pa.array(reasons, pa.string()),
                    "raw": pa.array(self.bad_raw + [text for _, text, _ in malformed], pa.string()),
                }
            ).sort_by("line")
        )
        blank = self.counts["blank_lines"]
        return CleanResult(
            orders=orders if orders is not None else SALES_ORDERS.empty(),
            orders_written=self.orders_written,
            rejects=rejects,
            rows_read=self.parsed - blank + len(malformed),
            duplicates=self.counts["duplicates"],
            quantity_filled=self.counts["quantity_filled"],
            blank_lines=blank + self.skipped.blank,
            reasons=Counter(r.split(":", 1)[0] for r in reasons),
        )


def clean_sales(data: bytes | pa.NativeFile, day: date) -> CleanResult:
    """Clean one day's drop in memory; see the package's docstring for the rules."""
    cleaner = DropCleaner(data, day)
    orders = list(cleaner.orders())
    table = pa.concat_tables(orders) if orders else SALES_ORDERS.empty()
    return cleaner.result(table)
