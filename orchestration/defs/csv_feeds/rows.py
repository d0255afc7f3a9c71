"""A day's drop of a declared feed as the table's rows: each line trimmed and mapped by the
declaration, typed by the contract, the rest refused with the reason."""

from __future__ import annotations

import csv
import io
from typing import Any

from core.contracts import ContractError
from core.datasets import DailyCsvFeed
from orchestration.defs.raw_zone import RecordBatch


def drop_rows(feed: DailyCsvFeed, day: str, text: str) -> RecordBatch:
    """The rows of the drop `text` for `day`. A row is refused (its position and reason in
    `rejected`, its line number in the reason) when it does not have the header's number of
    fields, breaks the contract, belongs to another day, or repeats a key seen earlier that
    day (the first row with a key is kept). Blank lines are skipped."""
    contract, column = feed.contract, feed.contract.partition_column or ""
    reader = csv.reader(io.StringIO(text))
    header = [name.strip() for name in next(reader, [])]
    at = {name: i for i, name in enumerate(header)}
    batch, seen = RecordBatch([], []), set()
    for fields in reader:
        if not any(f.strip() for f in fields):
            continue
        position, line = len(batch.rows), reader.line_num
        if len(fields) != len(header):
            batch.rows.append({})
            batch.raw.append(fields)
            batch.rejected[position] = (
                f"line {line}: {len(fields)} field(s), the header has {len(header)}"
            )
            continue
        batch.raw.append(dict(zip(header, fields, strict=True)))
        row: dict[str, Any] = {c: fields[at[h]].strip() or None for c, h in feed.columns.items()}
        row.setdefault(column, day)
        try:
            typed = contract.coerce_record(row)
        except ContractError as exc:
            batch.rows.append(row)
            batch.rejected[position] = f"line {line}: {exc}"
            continue
        key = tuple(typed[k] for k in contract.key)
        batch.rows.append(typed)
        if str(typed[column]) != day:
            batch.rejected[position] = f"line {line}: {column} {row[column]!r} is not {day}"
        elif key in seen:
            batch.rejected[position] = f"line {line}: duplicate key {key}; the first is kept"
        else:
            seen.add(key)
    return batch
