"""The sales cleaning rules, as a pure transform from a day's CSV bytes to orders and rejects.

The rules, in the source documents' order: duplicates by `order_id` keep the first; a missing
`quantity` becomes 1; a missing, unparseable or impossible `order_date` rejects the row. Around
them: whitespace is trimmed, types are enforced, and malformed lines are rejected with their line
number. Every data line of the file ends up in exactly one place: the orders, the rejects (with
its reason) or the duplicate count.

The file is read block by block (`DropCleaner`), so memory holds one block and the order ids
seen so far, not the whole day.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import reduce

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from core.contracts import ContractError
from core.contracts.datasets import SALES_ORDERS, SALES_REJECTS

SOURCE_COLUMNS = ["order_id", "customer_id", "product", "quantity", "price", "order_date"]
INT_PATTERN = r"^[+-]?\d+$"
DECIMAL_PATTERN = r"^[+-]?(\d+(\.\d*)?|\.\d+)$"
# A block of the file in memory at a time (about 33,000 rows). Each block is parsed on its own
# (see `_line_blocks`), so nothing beyond it is read ahead, and its duplicate check against the
# earlier blocks is a binary search (see `_SeenIds`), so small blocks cost little time.
BLOCK_BYTES = 2 << 20
_FNV_BASIS, _FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)


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


@dataclass
class _SkippedLines:
    """Lines pyarrow could not map to the header: malformed ones and blank ones."""

    expected: int
    numbers: list[int] = field(default_factory=list)
    malformed: list[tuple[int, str, int]] = field(default_factory=list)
    blank: int = 0
    offset: int = 0  # lines of the file before the block being parsed

    def __call__(self, row: pa_csv.InvalidRow) -> str:
        number = row.number + self.offset
        self.numbers.append(number)
        if row.text.strip():
            self.malformed.append((number, row.text, row.actual_columns))
        else:
            self.blank += 1
        return "skip"

    def line_numbers(self, rows: np.ndarray) -> np.ndarray:
        """Physical line numbers of parsed rows (0-based, in file order; the header is line 1).

        Row g is the (g + 2)-th line that pyarrow did not skip: it lies past every skipped line
        that has at most g + 1 unskipped lines before it.
        """
        skipped = np.sort(np.asarray(self.numbers, dtype=np.int64))
        before = skipped - np.arange(1, len(skipped) + 1)
        return rows + 2 + np.searchsorted(before, rows + 1, side="right")


class _Utf8Stream(io.RawIOBase):
    """The drop's bytes with every undecodable byte, and every NUL, replaced by U+FFFD.

    pyarrow refuses invalid UTF-8 outright, even in a line it would skip, and PostgreSQL refuses
    NUL in text, so one stray byte (or a drop cut inside a character) would fail the whole day;
    replaced, it rejects only its line.
    """

    def __init__(self, source: io.IOBase | pa.NativeFile) -> None:
        self.source = source
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.buffer = bytearray()
        self.eof = False
        self.replaced = False  # whether any byte so far was replaced

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if not self.buffer and not self.eof:
            chunk = self._read_source(size)
            if chunk.isascii() and b"\0" not in chunk and not self.decoder.getstate()[0]:
                self.eof = not chunk
                return chunk  # the common case: nothing to decode
            self._decode(chunk)
        while not self.eof and (size < 0 or len(self.buffer) < size):
            self._decode(self._read_source(size))
        size = len(self.buffer) if size < 0 else size
        out = bytes(self.buffer[:size])
        del self.buffer[:size]
        return out

    def _read_source(self, size: int) -> bytes:
        return self.source.read() if size < 0 else self.source.read(size)

    def _decode(self, chunk: bytes) -> None:
        self.eof = not chunk
        text = self.decoder.decode(chunk, final=self.eof).replace("\0", "\ufffd")
        self.replaced = self.replaced or "\ufffd" in text
        self.buffer += text.encode()


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


def _line_blocks(source: io.RawIOBase, size: int) -> Iterator[memoryview]:
    """The stream in pieces of about `size` bytes, each ending at a line end (the last one at
    the end of the stream; an empty stream is one empty piece).

    pyarrow's streaming CSV reader reads up to 32 blocks ahead in the background, which for a
    daily drop is the whole file in memory; parsing one piece at a time reads nothing ahead.
    Cutting at the last newline is what pyarrow's own chunker does too, as long as quoted
    values hold no newlines (`newlines_in_values` is off, as before).
    """
    carry = b""
    first = True
    while True:
        data = source.read(size)
        if not data:
            if carry or first:
                yield memoryview(carry)
            return
        first = False
        buf = carry + data if carry else data
        cut = buf.rfind(b"\n") + 1
        if not cut:  # a line longer than a block: read on
            carry = buf
            continue
        carry = buf[cut:]
        yield memoryview(buf)[:cut]


def _empty(values: pa.Array) -> np.ndarray:
    return pc.equal(pc.binary_length(values), 0).to_numpy(zero_copy_only=False)


def _hash_strings(values: pa.Array) -> np.ndarray:
    """64-bit FNV-1a of each string, vectorised: one pass per byte position, all strings at once
    (order ids are short). Equal strings hash alike; callers confirm every match exactly."""
    n = len(values)
    _, offsets_buf, data_buf = values.buffers()
    wide = pa.types.is_large_string(values.type)
    offsets = np.frombuffer(offsets_buf, np.int64 if wide else np.int32)
    offsets = offsets[values.offset : values.offset + n + 1].astype(np.int64)
    starts, lengths = offsets[:-1], np.diff(offsets)
    hashes = np.full(n, _FNV_BASIS, np.uint64)
    if data_buf is None or not n or not lengths.any():
        return hashes ^ lengths.astype(np.uint64)
    data = np.frombuffer(data_buf, np.uint8)
    last = len(data) - 1
    for j in range(int(lengths.max())):
        byte = data[np.minimum(starts + j, last)].astype(np.uint64)
        hashes = np.where(lengths > j, (hashes ^ byte) * _FNV_PRIME, hashes)
    return hashes ^ lengths.astype(np.uint64)


class _SeenIds:
    """The order ids kept so far in a drop, to find duplicates of earlier blocks.

    Their hashes, sorted, make a block's lookup a binary search instead of a hash table rebuilt
    from every id seen (which grows with each block); each match is confirmed against the id
    itself, and a hash shared by two different ids falls back to an exact comparison.
    """

    def __init__(self) -> None:
        self.chunks: list[pa.Array] = []
        self.starts = [0]
        self.hashes = np.empty(0, np.uint64)
        self.where = np.empty(0, np.int64)  # per sorted hash: the id's index among those seen

    def first_sightings(self, ids: pa.Array) -> np.ndarray:
        """Which of `ids` occur here for the first time in the drop (the first of equal ids in
        this block, and none of an earlier block); those are remembered."""
        hashes = _hash_strings(ids)
        _, firsts, inverse = np.unique(hashes, return_index=True, return_inverse=True)
        first = np.zeros(len(ids), dtype=bool)
        first[firsts] = True
        repeats = np.flatnonzero(~first)
        if len(repeats) and not _all_equal(
            ids.take(pa.array(repeats)), ids.take(pa.array(firsts[inverse[repeats]]))
        ):
            first = _first_occurrences(ids)  # two ids of one hash: compare exactly
        first &= ~self._earlier(ids, hashes, first)
        self._add(ids.filter(pa.array(first)), hashes[first])
        return first

    def _earlier(self, ids: pa.Array, hashes: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        if not len(self.hashes):
            return np.zeros(len(ids), dtype=bool)
        pos = np.minimum(np.searchsorted(self.hashes, hashes), len(self.hashes) - 1)
        hit = (self.hashes[pos] == hashes) & candidates
        if hit.any():
            rows = np.flatnonzero(hit)
            index = self.where[pos[rows]]
            chunk = np.searchsorted(self.starts, index, side="right") - 1
            for c in np.unique(chunk):
                mine = chunk == c
                seen = self.chunks[c].take(pa.array(index[mine] - self.starts[c]))
                if not _all_equal(ids.take(pa.array(rows[mine])), seen):
                    # A hash shared by different ids: compare exactly.
                    everything = pa.concat_arrays(self.chunks)
                    return pc.is_in(ids, value_set=everything).to_numpy(zero_copy_only=False)
        return hit

    def _add(self, ids: pa.Array, hashes: np.ndarray) -> None:
        order = np.argsort(hashes, kind="stable")
        pos = np.searchsorted(self.hashes, hashes[order])
        self.hashes = np.insert(self.hashes, pos, hashes[order])
        self.where = np.insert(self.where, pos, order + self.starts[-1])
        self.chunks.append(ids)
        self.starts.append(self.starts[-1] + len(ids))


def _all_equal(a: pa.Array, b: pa.Array) -> bool:
    return bool(pc.all(pc.equal(a, b)).as_py() is not False)


def _first_occurrences(ids: pa.Array) -> np.ndarray:
    """The first of equal values, exactly (a hash aggregation)."""
    firsts = (
        pa.table({"id": ids, "i": pa.array(np.arange(len(ids)))})
        .group_by("id", use_threads=False)
        .aggregate([("i", "min")])["i_min"]
    )
    first = np.zeros(len(ids), dtype=bool)
    first[firsts.to_numpy()] = True
    return first


class DropCleaner:
    """Cleans one day's drop block by block.

    Iterate `orders()` for the clean orders, one block at a time; once it is exhausted,
    `result()` gives the rejects and the counts.
    """

    def __init__(
        self, data: bytes | pa.NativeFile, day: date, block_bytes: int = BLOCK_BYTES
    ) -> None:
        self.day = day
        self.source = _Utf8Stream(io.BytesIO(data) if isinstance(data, bytes) else data)
        self.block_bytes = block_bytes
        self.skipped = _SkippedLines(expected=len(SOURCE_COLUMNS))
        self.seen = _SeenIds()  # order ids kept so far, for duplicates across blocks
        self.parsed = 0
        self.counts: Counter[str] = Counter()
        self.bad_rows: list[np.ndarray] = []
        self.bad_reasons: list[str] = []
        self.bad_raw: list[str] = []
        self.orders_written = 0
        self.done = False

    def orders(self) -> Iterator[pa.Table]:
        options = {
            "parse_options": pa_csv.ParseOptions(
                invalid_row_handler=self.skipped, ignore_empty_lines=False
            ),
            "convert_options": pa_csv.ConvertOptions(
                column_types=dict.fromkeys(SOURCE_COLUMNS, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        }
        header = True
        for piece in _line_blocks(self.source, self.block_bytes):
            skipped = len(self.skipped.numbers)
            raw = pa_csv.read_csv(
                pa.py_buffer(piece),
                # Single-threaded so that pyarrow reports the line number of every skipped line.
                read_options=pa_csv.ReadOptions(
                    use_threads=False,
                    block_size=len(piece) + 1,
                    column_names=None if header else SOURCE_COLUMNS,
                ),
                **options,
            )
            del piece
            if header and raw.column_names != SOURCE_COLUMNS:
                raise ContractError(
                    f"sales drop header is {raw.column_names}, expected {SOURCE_COLUMNS}"
                )
            # Every line of the piece is a row or a skipped line (a blank one too).
            self.skipped.offset += header + raw.num_rows + len(self.skipped.numbers) - skipped
            header = False
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
        empty = {c: _empty(col[c]) for c in SOURCE_COLUMNS}
        # A blank line parses as a row of empty fields: it is no row at all.
        blank = np.logical_and.reduce([empty[c] for c in SOURCE_COLUMNS])
        self.counts["blank_lines"] += int(blank.sum())
        # Rule 0: a row without an order_id has no identity to deduplicate on (it is rejected).
        # Rule 1: duplicates by order_id keep the first occurrence, in this block or before.
        with_id = ~blank & ~empty["order_id"]
        duplicate = np.zeros(n, dtype=bool)
        ids = col["order_id"].filter(pa.array(with_id))
        duplicate[with_id] = ~self.seen.first_sightings(ids)
        keep = ~blank & ~duplicate
        self.counts["duplicates"] += int(duplicate.sum())
        # Rule 2: a missing quantity becomes 1.
        self.counts["quantity_filled"] += int((keep & empty["quantity"]).sum())
        qty_text = pc.if_else(pa.array(empty["quantity"]), "1", col["quantity"])
        qty_ok = pc.match_substring_regex(qty_text, INT_PATTERN)
        price_ok = pc.match_substring_regex(col["price"], DECIMAL_PATTERN)
        quantity = pc.cast(pc.if_else(qty_ok, qty_text, "0"), pa.int64())
        price = pc.cast(pc.if_else(price_ok, col["price"], "0"), pa.float64())
        # Rule 3: a missing, unparseable or impossible order_date rejects the row. A clean row's
        # date is the drop's day, written as such: that one comparison stands for the parse.
        good = (
            keep
            & ~empty["order_id"]
            & ~empty["customer_id"]
            & ~empty["product"]
            & pc.and_(qty_ok, pc.greater(quantity, 0)).to_numpy(zero_copy_only=False)
            & pc.and_(price_ok, pc.greater_equal(price, 0)).to_numpy(zero_copy_only=False)
            & pc.equal(col["order_date"], self.day.isoformat()).to_numpy(zero_copy_only=False)
        )
        if self.source.replaced:
            good &= ~_undecodable(col).to_numpy(zero_copy_only=False)
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
                    "quantity": quantity.filter(mask),
                    "price": price.filter(mask),
                    "order_date": pa.repeat(pa.scalar(self.day, pa.date32()), int(good.sum())),
                }
            )
        )

    def _reject(
        self, raw: pa.Table, positions: np.ndarray, first_row: int, bad: dict[str, pa.Array]
    ) -> None:
        """Keep the block's rejected rows (at `positions`, with `bad` their trimmed fields):
        where they are, why (the first rule each fails) and the row as received."""
        qty_text = pc.if_else(pc.equal(bad["quantity"], ""), "1", bad["quantity"])
        price_text, date_text = bad["price"], bad["order_date"]
        parsed = pc.strptime(date_text, format="%Y-%m-%d", unit="s", error_is_null=True)
        # strptime rolls 2024-02-30 over to 2 March: a real date prints back as it was written.
        roundtrip = pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), date_text)
        qty_ok = pc.match_substring_regex(qty_text, INT_PATTERN)
        price_ok = pc.match_substring_regex(price_text, DECIMAL_PATTERN)
        quantity = pc.cast(pc.if_else(qty_ok, qty_text, "0"), pa.int64())
        price = pc.cast(pc.if_else(price_ok, price_text, "0"), pa.float64())
        checks: list[tuple[pa.Array, pa.Array | str]] = [
            (
                _undecodable(bad) if self.source.replaced else pa.repeat(False, len(positions)),
                "invalid UTF-8 or NUL byte in the line",
            ),
            (pc.equal(bad["order_id"], ""), "missing order_id"),
            (pc.equal(bad["customer_id"], ""), "missing customer_id"),
            (pc.equal(bad["product"], ""), "missing product"),
            (pc.invert(qty_ok), _quoted("invalid quantity", qty_text)),
            (pc.less_equal(quantity, 0), _quoted("non-positive quantity", qty_text)),
            (pc.equal(price_text, ""), "missing price"),
            (pc.invert(price_ok), _quoted("invalid price", price_text)),
            (pc.less(price, 0), _quoted("negative price", price_text)),
            (pc.equal(date_text, ""), "missing order_date"),
            (pc.is_null(parsed), _quoted("unparseable order_date", date_text)),
            (pc.invert(roundtrip), _quoted("impossible order_date", date_text)),
            (
                pc.not_equal(pc.cast(parsed, pa.date32()), pa.scalar(self.day, pa.date32())),
                _quoted("order_date outside the drop's day", date_text),
            ),
        ]
        reasons = pa.nulls(len(positions), pa.string())
        for failed, text in checks:
            first_failure = pc.and_(pc.is_null(reasons), pc.fill_null(failed, False))
            reasons = pc.if_else(first_failure, text, reasons)
        self.bad_rows.append(positions + first_row)
        self.bad_reasons += reasons.to_pylist()
        self.bad_raw += _raw_lines(raw.take(pa.array(positions)))

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


def _undecodable(fields: dict[str, pa.Array]) -> pa.Array:
    """A replaced byte (see `_Utf8Stream`) anywhere in the row rejects it."""
    return reduce(pc.or_, (pc.match_substring(fields[c], "\ufffd") for c in SOURCE_COLUMNS))


def clean_sales(data: bytes | pa.NativeFile, day: date) -> CleanResult:
    """Clean one day's drop in memory; see the module docstring for the rules."""
    cleaner = DropCleaner(data, day)
    orders = list(cleaner.orders())
    table = pa.concat_tables(orders) if orders else SALES_ORDERS.empty()
    return cleaner.result(table)
