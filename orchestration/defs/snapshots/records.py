"""The declared datasets' rows in the unified `records` table, as their `records` mapping asks."""

from core.contracts import Column
from core.datasets import RECORD_SOURCES, SNAPSHOTS, Snapshot
from core.sql import quote

RECORD_SNAPSHOTS = [s for s in SNAPSHOTS if s.name in RECORD_SOURCES]
RECORD_CONTRACTS = [s.contract for s in RECORD_SNAPSHOTS]


def _text(column: Column) -> str:
    """A column as `records` text: a boolean reads `true` or `false` on either engine."""
    name = quote(column.name)
    if column.type == "bool":
        return f"CASE WHEN {name} IS NULL THEN NULL WHEN {name} THEN 'true' ELSE 'false' END"
    return name if column.type == "string" else f"CAST({name} AS TEXT)"


def record_query(snapshot: Snapshot, now: str) -> str:
    """The SELECT mapping the dataset's table onto the unified columns (source, source_id,
    name, value, description, created_at, updated_at); `now` is the rebuild's time."""
    contract, mapping = snapshot.contract, snapshot.records
    if mapping is None:
        raise ValueError(f"{snapshot.name} declares no records mapping")
    cells = [
        "NULL" if column is None else _text(contract.column(column))
        for column in mapping.columns.values()
    ]
    source_id = " || '/' || ".join(_text(contract.column(c)) for c in contract.key)
    return (
        f"SELECT '{snapshot.name}', {source_id}, {', '.join(cells)}, fetched_at, {now} "
        f"FROM {quote(snapshot.name)}"
    )


def record_queries(now: str) -> dict[str, str]:
    """Per declared dataset with a `records` mapping, its SELECT (see `record_query`)."""
    return {s.name: record_query(s, now) for s in RECORD_SNAPSHOTS}
