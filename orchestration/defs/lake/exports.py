"""CSV exports per partition, written from the version the lake published."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from orchestration.defs.lake.tables import DAY_OF_HOUR, LakeTable
from orchestration.defs.metadata import PREVIEW_ROWS
from orchestration.storage.delta import DeltaLake
from orchestration.storage.lake import Lake


def partition_filter(spec: LakeTable, partition: str) -> ds.Expression:
    """One warehouse partition's rows in the Delta table, pruned to its day's files."""
    column = spec.contract.column(spec.contract.partition_column or "")
    expr = pc.field(column.name) == pa.scalar(partition).cast(column.arrow_type)
    if spec.partition_by == DAY_OF_HOUR:
        expr &= pc.field(DAY_OF_HOUR) == pa.scalar(partition[:10]).cast(pa.date32())
    return expr


def export_csv(
    store: Lake, tables: DeltaLake, spec: LakeTable, partition: str, relpath: str
) -> tuple[int, pa.Table]:
    """Write a partition's rows from the lake's Delta table to the CSV file `relpath`, one batch
    at a time (memory holds a batch, not the partition), with the contract's columns. Returns
    its rows and its first rows, for the preview."""
    contract = spec.contract
    if not tables.exists(spec.name):
        raise FileNotFoundError(
            f"the lake holds no {spec.name} table yet: materialize lake/{spec.name} first"
        )
    dataset = tables.dataset(spec.name)
    rows, head = 0, contract.empty()

    def counted(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        nonlocal rows, head
        for batch in batches:
            if not batch.num_rows:
                continue
            if not rows:
                head = pa.Table.from_batches([batch.slice(0, PREVIEW_ROWS)])
            rows += batch.num_rows
            yield batch

    batches = dataset.to_batches(
        columns=contract.column_names, filter=partition_filter(spec, partition)
    )
    store.write_csv_batches(relpath, counted(batches), empty=contract.arrow_schema)
    return rows, head


def path_hour(hour: str) -> str:
    """An hourly key as a path segment every filesystem holds: `2024-03-01-14:00` becomes
    `2024-03-01T14`."""
    return f"{hour[:10]}T{hour[11:13]}"
