"""The lake's tables: one Delta Lake table per served dataset, under `<LAKE_URL>/delta/<name>`.

Written with delta-rs (`deltalake`): a partition is replaced in one atomic commit, a snapshot in
one overwrite, so a reader sees a whole version or the one before, never a mix. Any Delta reader
(DuckDB's `delta_scan`, Polars' `scan_delta`, pandas through `deltalake`, Spark) reads them with
no knowledge of this code.

A day's partition is written as one Parquet file by pyarrow and committed by delta-rs (an add
action and an overwrite of that partition), which keeps a plain Parquet write's speed where
delta-rs's own writer does not (`docs/decisions/lake-writes.md`, `bench/lake.py`). Data files
are read through pyarrow's filesystems too (`dataset`), not delta-rs's Python bridge.
"""

from __future__ import annotations

import math
import os
import posixpath
import re
import time
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.transaction import AddAction

from orchestration.storage.lake import DEFAULT_LAKE_URL, filesystem_for

TABLES_DIR = "delta"
# Concurrent runs commit to the same table (two days of `sales_orders` at once); a commit that
# lost the race re-reads the log and retries when the partitions it replaced did not change.
COMMIT_RETRIES = 20
# A checkpoint every 10 commits rather than delta-rs's 100: loading a table replays the commits
# since the last one, and a table takes a commit per partition and run.
TABLE_CONFIGURATION = {"delta.checkpointInterval": "10"}
# Partition values written as path segments as they are (dates, continent codes).
PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class TableState:
    """A Delta table as its latest version describes it."""

    uri: str
    version: int
    files: int
    rows: int


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _stat(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def file_stats(metadata: pq.FileMetaData, schema: pa.Schema) -> str:
    """A data file's Delta statistics, from the statistics pyarrow wrote in its footer: rows,
    nulls, and the min and max of each string, number and date column (readers use them to
    skip files; Delta does not require them of other types)."""
    stats: dict[str, Any] = {
        "numRecords": metadata.num_rows,
        "minValues": {},
        "maxValues": {},
        "nullCount": {},
    }
    groups = [metadata.row_group(g) for g in range(metadata.num_row_groups)]
    for i, field in enumerate(schema):
        chunks = [group.column(i).statistics for group in groups]
        if not chunks or any(c is None for c in chunks):
            continue
        stats["nullCount"][field.name] = sum(c.null_count for c in chunks)
        t = field.type
        bounded = pa.types.is_string(t) or pa.types.is_integer(t) or pa.types.is_floating(t)
        if not (bounded or pa.types.is_date32(t)) or not all(c.has_min_max for c in chunks):
            continue
        low, high = _stat(min(c.min for c in chunks)), _stat(max(c.max for c in chunks))
        if low is not None and high is not None:
            stats["minValues"][field.name], stats["maxValues"][field.name] = low, high
    return orjson.dumps(stats).decode()


class DeltaLake:
    """The Delta tables of one lake (a folder or `s3://bucket/prefix`)."""

    def __init__(self, url: str = DEFAULT_LAKE_URL, s3_endpoint: str | None = None) -> None:
        # The folder or bucket as pyarrow reaches it (which also refuses other schemes).
        self.fs, self._fs_root = filesystem_for(url, s3_endpoint)
        self.is_s3 = url.startswith("s3://")
        self.root = f"s3://{self._fs_root}" if self.is_s3 else self._fs_root
        self.storage_options = self._storage_options(s3_endpoint) if self.is_s3 else {}

    @staticmethod
    def _storage_options(s3_endpoint: str | None) -> dict[str, str]:
        # Safe concurrent commits on S3 and S3-compatible servers: a commit file is put only if
        # no other writer put that version first (conditional put on the ETag).
        options = {"aws_conditional_put": "etag"}
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            options["AWS_REGION"] = region
        if s3_endpoint:
            options["AWS_ENDPOINT_URL"] = s3_endpoint
            if s3_endpoint.startswith("http://"):
                options["AWS_ALLOW_HTTP"] = "true"
        return options

    def uri(self, name: str) -> str:
        """The table's root: what `delta_scan`, `scan_delta` and `DeltaTable` open."""
        return posixpath.join(self.root, TABLES_DIR, name)

    def _path(self, name: str, *parts: str) -> str:
        return posixpath.join(self._fs_root, TABLES_DIR, name, *parts)

    def table(self, name: str, version: int | None = None) -> DeltaTable:
        return DeltaTable(self.uri(name), version=version, storage_options=self.storage_options)

    def dataset(self, name: str, version: int | None = None) -> ds.Dataset:
        """The table's rows as a pyarrow dataset (a version's files, read by pyarrow)."""
        files = pafs.SubTreeFileSystem(self._path(name), self.fs)
        return self.table(name, version).to_pyarrow_dataset(filesystem=files)

    def exists(self, name: str) -> bool:
        info = self.fs.get_file_info(self._path(name, "_delta_log"))
        return info.type == pafs.FileType.Directory

    def table_names(self) -> list[str]:
        """The tables the lake holds."""
        selector = pafs.FileSelector(self._path(""), allow_not_found=True)
        names = [
            posixpath.basename(info.path)
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.Directory
        ]
        return sorted(n for n in names if self.exists(n))

    def replace_partition(
        self, name: str, data: pa.Table, partition_by: str, value: str
    ) -> TableState:
        """Replace the partition `partition_by = value` by `data` (whose rows all hold that
        value), in one commit."""
        if not self.exists(name) or not PLAIN_VALUE.fullmatch(value):
            predicate = f"{partition_by} = {sql_literal(value)}"
            return self.replace_where(name, data, partition_by, predicate)
        column = data.column(partition_by)
        bounds = pc.min_max(column).as_py()
        if data.num_rows and {str(bounds["min"]), str(bounds["max"])} != {value}:
            raise ValueError(f"{name}: rows outside the partition {partition_by} = {value!r}")
        table = self.table(name)
        # An empty partition is the old one's files removed and none added.
        files = [self._data_file(name, data, partition_by, value)] if data.num_rows else []
        table.create_write_transaction(
            files,
            mode="overwrite",
            schema=table.schema(),
            partition_by=[partition_by],
            partition_filters=[(partition_by, "=", value)],
            # Readers of the history see which partition the commit replaced.
            commit_properties=CommitProperties(
                max_commit_retries=COMMIT_RETRIES,
                custom_metadata={"userMetadata": f"{partition_by} = {sql_literal(value)}"},
            ),
        )
        table.update_incremental()  # to the version just committed: the new commits only
        return self._state(name, table)

    def _data_file(self, name: str, data: pa.Table, partition_by: str, value: str) -> AddAction:
        """`data` (without its partition column) as one Parquet file in the partition's folder,
        written by pyarrow, and the add action that commits it."""
        rows = data.drop_columns([partition_by])
        relpath = f"{partition_by}={value}/part-{uuid.uuid4()}.parquet"
        path = self._path(name, relpath)
        self.fs.create_dir(posixpath.dirname(path), recursive=True)
        footers: list[pq.FileMetaData] = []
        pq.write_table(rows, path, filesystem=self.fs, metadata_collector=footers)
        size = self.fs.get_file_info(path).size
        stats = file_stats(footers[0], rows.schema)
        modified = int(time.time() * 1000)
        return AddAction(relpath, size, {partition_by: value}, modified, True, stats)

    def replace_where(
        self, name: str, data: pa.Table, partition_by: str, predicate: str
    ) -> TableState:
        """Replace the rows matching `predicate` (an hour inside a day's partition) by `data`,
        in one commit; the first write creates the table, partitioned by `partition_by`."""
        self._write(name, data, partition_by=[partition_by], predicate=predicate)
        return self.state(name)

    def replace_all(self, name: str, data: pa.Table) -> TableState:
        """Replace the whole table by `data`, in one commit (a snapshot)."""
        self._write(name, data, partition_by=None, predicate=None)
        return self.state(name)

    def _write(
        self, name: str, data: pa.Table, partition_by: list[str] | None, predicate: str | None
    ) -> None:
        write_deltalake(
            self.uri(name),
            data,
            mode="overwrite",
            partition_by=partition_by,
            predicate=predicate,
            configuration=TABLE_CONFIGURATION,
            storage_options=self.storage_options,
            commit_properties=CommitProperties(max_commit_retries=COMMIT_RETRIES),
        )

    def state(self, name: str) -> TableState:
        return self._state(name, self.table(name))

    def _state(self, name: str, table: DeltaTable) -> TableState:
        return TableState(self.uri(name), table.version(), len(table.file_uris()), table.count())

    def compact(self, name: str) -> dict[str, int]:
        """Rewrite each partition's small files into few large ones (one commit; the rows are
        unchanged). Returns the files removed and added."""
        metrics = self.table(name).optimize.compact(
            commit_properties=CommitProperties(max_commit_retries=COMMIT_RETRIES)
        )
        return {
            "files_removed": metrics["numFilesRemoved"],
            "files_added": metrics["numFilesAdded"],
        }

    def vacuum(self, name: str, retention_hours: int) -> list[str]:
        """Delete the files no version younger than `retention_hours` reads; older versions
        can no longer be read (time travel reaches back as far as the window)."""
        return self.table(name).vacuum(
            retention_hours=retention_hours, enforce_retention_duration=False, dry_run=False
        )
