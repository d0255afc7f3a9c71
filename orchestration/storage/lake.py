"""The lake: a local folder or an `s3://bucket/prefix`, through pyarrow's filesystems.

Paths are Hive-style (`<dataset>/<column>=<key>/part-0.parquet`). Every file is written under a
temporary name beside its final one and moved into place, so a reader never sees half a file and a
failed write leaves the previous file intact.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import posixpath
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.fs as pafs
import pyarrow.parquet as pq

DEFAULT_LAKE_URL = "data/lake"
COPY_CHUNK_BYTES = 8 << 20


def filesystem_for(url: str, s3_endpoint: str | None = None) -> tuple[pafs.FileSystem, str]:
    """The filesystem and root path for a local folder or an `s3://bucket/prefix` URL.

    `s3_endpoint` (e.g. `http://127.0.0.1:9000`) points S3 at a compatible server; credentials
    come from the usual AWS environment variables.
    """
    if url.startswith("s3://"):
        root = url.removeprefix("s3://").rstrip("/")
        if s3_endpoint:
            scheme, _, host = s3_endpoint.partition("://")
            fs = pafs.S3FileSystem(endpoint_override=host, scheme=scheme or "https")
        else:
            fs = pafs.S3FileSystem()
        return fs, root
    if "://" in url and not url.startswith("file://"):
        raise ValueError(f"unsupported location {url!r}: use a folder or s3://bucket/prefix")
    root = Path(url.removeprefix("file://")).absolute()
    return pafs.LocalFileSystem(), root.as_posix()


def hive_path(dataset: str, column: str, key: str, filename: str) -> str:
    """`<dataset>/<column>=<key>/<filename>`."""
    return f"{dataset}/{column}={key}/{filename}"


class Lake:
    """Files under one root, written atomically."""

    def __init__(self, url: str = DEFAULT_LAKE_URL, s3_endpoint: str | None = None) -> None:
        self.url = url
        self.fs, self.root = filesystem_for(url, s3_endpoint)
        self._is_local = isinstance(self.fs, pafs.LocalFileSystem)

    def full_path(self, relpath: str) -> str:
        return posixpath.join(self.root, relpath)

    def uri(self, relpath: str) -> str:
        """A location to show people: `s3://...` or an absolute local path."""
        full = self.full_path(relpath)
        return full if self._is_local else f"s3://{full}"

    @contextlib.contextmanager
    def atomic(self, relpath: str) -> Iterator[pa.NativeFile]:
        """A stream to `relpath` that appears under that name only if the block succeeds: it is
        written under a temporary name beside it and moved into place on exit."""
        final = self.full_path(relpath)
        parent, name = posixpath.split(final)
        tmp = posixpath.join(parent, f".{name}.{uuid.uuid4().hex}.tmp")
        self.fs.create_dir(parent, recursive=True)
        try:
            with self.fs.open_output_stream(tmp) as out:
                yield out
            self.fs.move(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                self.fs.delete_file(tmp)
            raise

    def write_with(self, relpath: str, write: Callable[[pa.NativeFile], None]) -> str:
        """Write a file through `write(stream)`, atomically (see `atomic`)."""
        with self.atomic(relpath) as out:
            write(out)
        return self.uri(relpath)

    def write_bytes(self, relpath: str, data: bytes) -> str:
        return self.write_with(relpath, lambda out: out.write(data))

    def copy_from(self, src_fs: pafs.FileSystem, src_path: str, relpath: str) -> str:
        """Copy a file byte for byte into the lake (atomically)."""

        def write(out: pa.NativeFile) -> None:
            with src_fs.open_input_stream(src_path) as src:
                while chunk := src.read(COPY_CHUNK_BYTES):
                    out.write(chunk)

        return self.write_with(relpath, write)

    def write_parquet(self, relpath: str, table: pa.Table) -> str:
        return self.write_with(relpath, lambda out: pq.write_table(table, out))

    def write_csv(self, relpath: str, table: pa.Table) -> str:
        return self.write_with(relpath, lambda out: pa_csv.write_csv(table, out))

    def write_csv_batches(
        self, relpath: str, batches: Iterable[pa.RecordBatch], empty: pa.Schema
    ) -> str:
        """A CSV written one batch at a time (atomically), so memory holds one batch; the header
        of `empty` when there are no batches."""

        def write(out: pa.NativeFile) -> None:
            writer = None
            for batch in batches:
                writer = writer or pa_csv.CSVWriter(out, batch.schema)
                writer.write_batch(batch)
            if writer is None:
                pa_csv.write_csv(empty.empty_table(), out)
            else:
                writer.close()

        return self.write_with(relpath, write)

    def read_bytes(self, relpath: str) -> bytes:
        with self.fs.open_input_stream(self.full_path(relpath)) as src:
            return src.read()

    def open_input(self, relpath: str) -> pa.NativeFile:
        return self.fs.open_input_stream(self.full_path(relpath))

    def read_parquet(self, relpath: str) -> pa.Table:
        return pq.read_table(self.full_path(relpath), filesystem=self.fs)

    def iter_parquet(self, relpath: str, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        """A Parquet file's rows, one batch at a time."""
        with self.fs.open_input_file(self.full_path(relpath)) as src:
            yield from pq.ParquetFile(src).iter_batches(batch_size=batch_rows)

    def modified_at(self, relpath: str) -> dt.datetime:
        """When the file was last written (UTC)."""
        mtime = self.fs.get_file_info(self.full_path(relpath)).mtime
        if mtime is None:
            raise FileNotFoundError(self.uri(relpath))
        return mtime.astimezone(dt.UTC)

    def exists(self, relpath: str) -> bool:
        return self.fs.get_file_info(self.full_path(relpath)).type == pafs.FileType.File

    def list_files(self, prefix: str = "") -> list[str]:
        """Relative paths of the files under `prefix` (temporary files excluded)."""
        base = self.full_path(prefix)
        infos = self.fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        rel = [posixpath.relpath(i.path, self.root) for i in infos if i.type == pafs.FileType.File]
        return sorted(p for p in rel if not posixpath.basename(p).startswith("."))
