"""The checks a row's trimmed fields must pass, as masks over a whole block, and the reason a
rejected row gets: the first check it fails, in the order of `reject_reasons`."""

from __future__ import annotations

from datetime import date
from functools import reduce
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.defs.sales_csv.cleaning.csv_blocks import SOURCE_COLUMNS

INT_PATTERN = r"^[+-]?\d+$"
DECIMAL_PATTERN = r"^[+-]?(\d+(\.\d*)?|\.\d+)$"


class Numbers(NamedTuple):
    """A block's quantities and prices as numbers (0 where the text is none), and which are."""

    quantity_ok: pa.Array
    price_ok: pa.Array
    quantity: pa.Array
    price: pa.Array


def numbers(quantity_text: pa.Array, price_text: pa.Array) -> Numbers:
    """Parse the quantity (a missing one already filled in as 1) and the price texts."""
    quantity_ok = pc.match_substring_regex(quantity_text, INT_PATTERN)
    price_ok = pc.match_substring_regex(price_text, DECIMAL_PATTERN)
    quantity = pc.cast(pc.if_else(quantity_ok, quantity_text, "0"), pa.int64())
    price = pc.cast(pc.if_else(price_ok, price_text, "0"), pa.float64())
    return Numbers(quantity_ok, price_ok, quantity, price)


def empty(values: pa.Array) -> np.ndarray:
    return pc.equal(pc.binary_length(values), 0).to_numpy(zero_copy_only=False)


def valid(
    fields: dict[str, pa.Array],
    missing: dict[str, np.ndarray],
    typed: Numbers,
    day: date,
    replaced: bool,
) -> np.ndarray:
    """Which rows pass every check (`missing`: the empty fields, `typed`: `numbers` of the
    block): the fields present, the numbers in range, and the date the
    drop's day. A missing, unparseable or impossible order_date rejects the row; a valid row's
    date is the drop's day, written as such: that one comparison stands for the parse."""
    good = (
        ~missing["order_id"]
        & ~missing["customer_id"]
        & ~missing["product"]
        & pc.and_(typed.quantity_ok, pc.greater(typed.quantity, 0)).to_numpy(zero_copy_only=False)
        & pc.and_(typed.price_ok, pc.greater_equal(typed.price, 0)).to_numpy(zero_copy_only=False)
        & pc.equal(fields["order_date"], day.isoformat()).to_numpy(zero_copy_only=False)
    )
    if replaced:
        good &= ~undecodable(fields).to_numpy(zero_copy_only=False)
    return good


def reject_reasons(bad: dict[str, pa.Array], day: date, replaced: bool) -> pa.Array:
    """Why each rejected row (`bad`, its trimmed fields) was rejected: the first check it fails.
    `replaced`: whether the drop had bytes replaced (see `csv_blocks.Utf8Stream`)."""
    quantity_text = pc.if_else(pc.equal(bad["quantity"], ""), "1", bad["quantity"])
    price_text, date_text = bad["price"], bad["order_date"]
    parsed = pc.strptime(date_text, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls 2024-02-30 over to 2 March: a real date prints back as it was written.
    roundtrip = pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), date_text)
    quantity_ok, price_ok, quantity, price = numbers(quantity_text, price_text)
    checks: list[tuple[pa.Array, pa.Array | str]] = [
        (
            undecodable(bad) if replaced else pa.repeat(False, len(date_text)),
            "invalid UTF-8 or NUL byte in the line",
        ),
        (pc.equal(bad["order_id"], ""), "missing order_id"),
        (pc.equal(bad["customer_id"], ""), "missing customer_id"),
        (pc.equal(bad["product"], ""), "missing product"),
        (pc.invert(quantity_ok), _quoted("invalid quantity", quantity_text)),
        (pc.less_equal(quantity, 0), _quoted("non-positive quantity", quantity_text)),
        (pc.equal(price_text, ""), "missing price"),
        (pc.invert(price_ok), _quoted("invalid price", price_text)),
        (pc.less(price, 0), _quoted("negative price", price_text)),
        (pc.equal(date_text, ""), "missing order_date"),
        (pc.is_null(parsed), _quoted("unparseable order_date", date_text)),
        (pc.invert(roundtrip), _quoted("impossible order_date", date_text)),
        (
            pc.not_equal(pc.cast(parsed, pa.date32()), pa.scalar(day, pa.date32())),
            _quoted("order_date outside the drop's day", date_text),
        ),
    ]
    reasons = pa.nulls(len(date_text), pa.string())
    for failed, text in checks:
        first_failure = pc.and_(pc.is_null(reasons), pc.fill_null(failed, False))
        reasons = pc.if_else(first_failure, text, reasons)
    return reasons


def undecodable(fields: dict[str, pa.Array]) -> pa.Array:
    """A replaced byte (see `csv_blocks.Utf8Stream`) anywhere in the row rejects it."""
    return reduce(pc.or_, (pc.match_substring(fields[c], "\ufffd") for c in SOURCE_COLUMNS))


def _quoted(prefix: str, values: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.binary_join_element_wise(prefix + ": '", values, "'", "")
