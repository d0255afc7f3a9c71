"""A drop's bytes as CSV tables, one block at a time: the bytes made valid UTF-8, cut at line ends,
parsed by pyarrow with every field as text, and each line the parse skipped counted with its
line number. Also the way back: a parsed row as the CSV line it was received as."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from core.contracts import ContractError

SOURCE_COLUMNS = ["order_id", "customer_id", "product", "quantity", "price", "order_date"]
# A block of the file in memory at a time (about 33,000 rows). Each block is parsed on its own
# (see `line_blocks`), so nothing beyond it is read ahead, and its duplicate check against the
# earlier blocks is a binary search (see `duplicates.SeenIds`), so small blocks cost little time.
BLOCK_BYTES = 2 << 20


@dataclass
class SkippedLines:
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


class Utf8Stream(io.RawIOBase):
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


def line_blocks(source: io.RawIOBase, size: int) -> Iterator[memoryview]:
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


def csv_blocks(source: io.RawIOBase, size: int, skipped: SkippedLines) -> Iterator[pa.Table]:
    """The drop's rows, one table of text columns per piece of `line_blocks`; the lines the
    parse skips go to `skipped`, numbered in the whole file. A header other than
    `SOURCE_COLUMNS` fails the drop."""
    options = {
        "parse_options": pa_csv.ParseOptions(invalid_row_handler=skipped, ignore_empty_lines=False),
        "convert_options": pa_csv.ConvertOptions(
            column_types=dict.fromkeys(SOURCE_COLUMNS, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    }
    header = True
    for piece in line_blocks(source, size):
        before = len(skipped.numbers)
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
        skipped.offset += header + raw.num_rows + len(skipped.numbers) - before
        header = False
        yield raw


def raw_lines(table: pa.Table) -> list[str]:
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
