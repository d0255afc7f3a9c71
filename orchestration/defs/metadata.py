"""Materialization metadata shared by the assets: row counts, column schemas, previews."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from dagster import MetadataValue, TableColumn, TableColumnConstraints, TableSchema

from core.contracts import Contract

PREVIEW_ROWS = 5


def column_schema(contract: Contract) -> TableSchema:
    """The contract as a Dagster table schema (shown in the UI's Columns tab)."""
    return TableSchema(
        columns=[
            TableColumn(
                name=c.name,
                type=c.type,
                description=c.description or None,
                constraints=TableColumnConstraints(
                    nullable=c.nullable, unique=(c.name,) in {contract.key, *contract.unique}
                ),
            )
            for c in contract.columns
        ]
    )


def markdown_preview(table: pa.Table, rows: int = PREVIEW_ROWS) -> MetadataValue:
    """The first rows of a table as Markdown."""
    head = table.slice(0, rows).to_pylist()
    names = table.column_names

    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        return text.replace("|", "\\|").replace("\n", " ")[:80]

    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(cell(r[n]) for n in names) + " |" for r in head]
    return MetadataValue.md("\n".join(lines))


def definition_metadata(contract: Contract) -> dict[str, Any]:
    """The table name and column schema, shown in the UI before any materialization."""
    return {"dagster/column_schema": column_schema(contract), "dagster/table_name": contract.name}


def table_metadata(contract: Contract, table: pa.Table, rows: int | None = None) -> dict[str, Any]:
    """Row count, column schema, table name and a preview for a warehouse write."""
    return definition_metadata(contract) | {
        "dagster/row_count": table.num_rows if rows is None else rows,
        "preview": markdown_preview(table),
    }


def export_metadata(
    files: dict[str, str], rows: int, last: pa.Table, listed: int
) -> dict[str, Any]:
    """Metadata of a lake export: rows, the last partition's file as the asset's URI, the files
    per partition (only the last when more than `listed`), and a preview of the last one."""
    key = list(files)[-1]
    return {
        "dagster/row_count": rows,
        "dagster/uri": files[key],
        "files": MetadataValue.json(files if len(files) <= listed else {key: files[key]}),
        "preview": markdown_preview(last),
    }
