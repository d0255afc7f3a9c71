"""The declared datasets' rows in the unified `records` table, as their `records` mapping asks."""

from core.contracts import Column
from core.datasets import DATASETS, RECORD_SOURCES, DailyCsvFeed, Dataset
from core.sql import Dialect, quote

RECORD_DATASETS = [d for d in DATASETS if d.name in RECORD_SOURCES]
RECORD_CONTRACTS = [d.contract for d in RECORD_DATASETS]


def _text(column: Column) -> str:
    """A column as `records` text: a boolean reads `true` or `false` on either engine."""
    name = quote(column.name)
    if column.type == "bool":
        return f"CASE WHEN {name} IS NULL THEN NULL WHEN {name} THEN 'true' ELSE 'false' END"
    return name if column.type == "string" else f"CAST({name} AS TEXT)"


def record_query(dataset: Dataset, dialect: Dialect, now: str) -> str:
    """The SELECT mapping the dataset's table onto the unified columns (source, source_id,
    name, value, description, created_at, updated_at); `now` is the rebuild's time. A record
    is created when its snapshot was taken, or on its drop's day."""
    contract, mapping = dataset.contract, dataset.records
    if mapping is None:
        raise ValueError(f"{dataset.name} declares no records mapping")
    cells = [
        "NULL" if column is None else _text(contract.column(column))
        for column in mapping.columns.values()
    ]
    source_id = " || '/' || ".join(_text(contract.column(c)) for c in contract.key)
    created = (
        dialect.date_to_timestamp(quote(contract.partition_column or ""))
        if isinstance(dataset, DailyCsvFeed)
        else "fetched_at"
    )
    return (
        f"SELECT '{dataset.name}', {source_id}, {', '.join(cells)}, {created}, {now} "
        f"FROM {quote(dataset.name)}"
    )


def record_queries(dialect: Dialect, now: str) -> dict[str, str]:
    """Per declared dataset with a `records` mapping, its SELECT (see `record_query`)."""
    return {d.name: record_query(d, dialect, now) for d in RECORD_DATASETS}
