"""The lake as Delta tables: every served table, read by DuckDB, Polars and pandas, equals its
warehouse table; a partition is replaced in one commit; a failed check or a killed write leaves
the lake as it was; maintenance compacts and honours its retention window."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import duckdb_extension_delta
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from dagster import AssetKey, AssetSelection, DagsterInstance, materialize
from deltalake import DeltaTable

from core.contracts.datasets import LANDING_LOGS, SALES_ORDERS
from core.datasets.countries import CONTINENTS
from orchestration import definitions
from orchestration.backfill import SALES_ASSETS
from orchestration.defs.lake.tables import LAKE_TABLES, LakeTable
from orchestration.resources.storage import LakeResource
from orchestration.run_tags import range_tags
from orchestration.storage.delta import DeltaLake
from sample_sources.sales import write_drops
from tests.conftest import S3_BUCKET, SAMPLE_DAYS, SAMPLE_START, Platform
from tests.test_logs_pipeline import append, at, log

defs = definitions.defs()
all_assets = defs.assets

ROOT = Path(__file__).resolve().parent.parent
DAYS = ["2024-03-01", "2024-03-02", "2024-03-03"]
HOURS = ["2024-03-01-10:00", "2024-03-01-11:00", "2024-03-01-12:00"]
DELTA_EXTENSION = next(Path(duckdb_extension_delta.__file__).parent.rglob("delta.duckdb_extension"))


def run(platform, selection, tags=None, partition_key=None, **resources) -> Any:
    return materialize(
        all_assets,
        selection=selection,
        tags=tags or {},
        partition_key=partition_key,
        resources=platform.resources(**resources),
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def load_everything(platform, **resources) -> None:
    """Every dataset, as `make demo` loads it, and an hour's logs pushed to the landing table."""
    append(
        platform.warehouse,
        LANDING_LOGS,
        [
            log(at(h, m), f"e{h}-{m}", severity="WARN" if m % 2 else "INFO")
            for h in range(3)
            for m in range(0, 60, 7)
        ],
    )
    loads = [
        (AssetSelection.groups("rest_api"), {}),
        (AssetSelection.groups("graphql_api"), range_tags(CONTINENTS[0], CONTINENTS[-1])),
        (SALES_ASSETS, range_tags(DAYS[0], DAYS[-1])),
        (AssetSelection.groups("logs"), range_tags(HOURS[0], HOURS[-1])),
        (AssetSelection.groups("unified"), {}),
    ]
    for selection, tags in loads:
        result = run(platform, selection, tags, **resources)
        assert result.success, [e.message for e in result.get_step_failure_events()]


def numeric(spec: LakeTable) -> list[str]:
    return [c.name for c in spec.contract.columns if c.type in ("int", "float")]


def warehouse_figures(platform, spec: LakeTable) -> tuple[int, set[tuple], dict[str, float]]:
    table = platform.warehouse.read(spec.contract)
    key_rows = set(zip(*(table[c].to_pylist() for c in spec.contract.key), strict=True))
    sums = {c: pc.sum(table[c]).as_py() or 0 for c in numeric(spec)}
    return table.num_rows, key_rows, sums


def duckdb_figures(uri: str, spec: LakeTable) -> tuple[int, set[tuple], dict[str, float]]:
    con = duckdb.connect()
    con.execute(f"LOAD '{DELTA_EXTENSION}'")
    scan = f"delta_scan('{uri}')"
    (rows,) = con.execute(f"SELECT COUNT(*) FROM {scan}").fetchone()
    key_rows = set(con.execute(f"SELECT {', '.join(spec.contract.key)} FROM {scan}").fetchall())
    sums = {
        c: con.execute(f"SELECT COALESCE(SUM({c}), 0) FROM {scan}").fetchone()[0]
        for c in numeric(spec)
    }
    return rows, key_rows, sums


def polars_figures(uri: str, spec: LakeTable, options: dict | None = None) -> tuple:
    frame = pl.scan_delta(uri, storage_options=options).collect()
    key_rows = set(frame.select(list(spec.contract.key)).rows())
    return frame.height, key_rows, {c: frame[c].sum() for c in numeric(spec)}


def pandas_figures(uri: str, spec: LakeTable, options: dict | None = None) -> tuple:
    frame = DeltaTable(uri, storage_options=options).to_pandas()
    key_rows = set(frame[list(spec.contract.key)].itertuples(index=False, name=None))
    return len(frame), key_rows, {c: frame[c].sum() for c in numeric(spec)}


def same(expected: tuple, actual: tuple, reader: str, table: str) -> None:
    rows, key_rows, sums = expected
    assert actual[0] == rows, (reader, table)
    assert actual[1] == key_rows, (reader, table)
    assert actual[2] == pytest.approx(sums), (reader, table)


def test_every_served_table_reads_the_same_from_the_lake_as_from_the_warehouse(platform):
    load_everything(platform)
    lake = DeltaLake(str(platform.lake_dir))
    assert lake.table_names() == sorted(spec.name for spec in LAKE_TABLES)
    for spec in LAKE_TABLES:
        expected = warehouse_figures(platform, spec)
        assert expected[0] > 0, spec.name
        uri = lake.uri(spec.name)
        same(expected, duckdb_figures(uri, spec), "duckdb", spec.name)
        same(expected, polars_figures(uri, spec), "polars", spec.name)
        same(expected, pandas_figures(uri, spec), "pandas", spec.name)
    # Partition folders every filesystem and Hadoop-based reader accepts: no `:` in a path.
    assert not [p for p in platform.lake_dir.rglob("*") if ":" in p.name]
    hourly = sorted(p.name for p in (platform.lake_dir / "delta/logs").iterdir())
    assert hourly == ["_delta_log", "date=2024-03-01"]


def test_the_lake_on_s3_reads_as_the_warehouse(tmp_path, sources, s3_endpoint):
    # The lake's side is the object store; the warehouse's engine is the one above's concern.
    platform = Platform(tmp_path, f"sqlite:///{tmp_path / 'warehouse.db'}", sources.url)
    write_drops(platform.landing_dir, SAMPLE_START, SAMPLE_DAYS, 1000)
    lake_url = f"s3://{S3_BUCKET}/lake"
    load_everything(platform, lake=LakeResource(url=lake_url, s3_endpoint=s3_endpoint))
    lake = DeltaLake(lake_url, s3_endpoint)
    assert lake.table_names() == sorted(spec.name for spec in LAKE_TABLES)
    for spec in LAKE_TABLES:
        expected = warehouse_figures(platform, spec)
        uri, options = lake.uri(spec.name), lake.storage_options
        same(expected, polars_figures(uri, spec, options), "polars", spec.name)
        same(expected, pandas_figures(uri, spec, options), "pandas", spec.name)


def lake_materializations(result, name: str) -> dict[str, dict]:
    return {
        e.partition: {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
        if e.asset_key == AssetKey(["lake", name])
    }


def test_a_partition_rerun_is_one_new_version_that_changes_only_that_partition(platform):
    first = run(platform, SALES_ASSETS, range_tags(DAYS[0], DAYS[-1]))
    assert first.success
    table_uri = str(platform.lake_dir / "delta/sales_orders")
    meta = lake_materializations(first, "sales_orders")
    assert set(meta) == set(DAYS)
    # The asset's metadata: the table's root, its version, files and the day's rows.
    assert {m["dagster/uri"] for m in meta.values()} == {table_uri}
    assert [meta[d]["delta_version"] for d in DAYS] == [0, 1, 2]
    for day in DAYS:
        assert meta[day]["partition"] == day
        assert meta[day]["dagster/row_count"] == platform.warehouse.count(SALES_ORDERS, [day])
    before = DeltaTable(table_uri)
    files_before = {f for f in before.file_uris() if "2024-03-02" not in f}
    old = before.to_pyarrow_table()

    # A new drop for the middle day: fewer rows.
    drop = platform.landing_dir / "sales" / "sales_2024-03-02.csv"
    lines = drop.read_text().splitlines()
    drop.write_text("\n".join(lines[:200]) + "\n")
    assert run(platform, SALES_ASSETS, partition_key=DAYS[1]).success

    after = DeltaTable(table_uri)
    assert after.version() == 3
    [commit] = after.history(1)
    assert commit["operation"] == "WRITE"
    assert commit["operationParameters"]["mode"] == "Overwrite"
    # The other days are the very same files; the middle day's file was replaced by one new one.
    assert {f for f in after.file_uris() if "2024-03-02" not in f} == files_before
    [added] = set(after.file_uris()) - set(before.file_uris())
    [removed] = set(before.file_uris()) - set(after.file_uris())
    assert "/order_date=2024-03-02/" in added and "/order_date=2024-03-02/" in removed
    new = after.to_pyarrow_table()

    def day(table: pa.Table, d: str) -> pa.Table:
        return table.filter(pc.field("order_date") == date.fromisoformat(d)).sort_by("order_id")

    for d in (DAYS[0], DAYS[2]):
        assert day(new, d).equals(day(old, d))
    assert day(new, DAYS[1]).num_rows == platform.warehouse.count(SALES_ORDERS, [DAYS[1]]) < 200
    # The previous version is still readable by its number.
    assert (
        DeltaTable(table_uri, version=2)
        .to_pyarrow_table()
        .sort_by("order_id")
        .equals(old.sort_by("order_id"))
    )


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] in ("delta", "csv")
    }


def test_a_partition_that_fails_a_blocking_check_leaves_the_lake_unchanged(platform):
    assert run(platform, SALES_ASSETS, range_tags(DAYS[0], DAYS[1])).success
    before = snapshot(platform.lake_dir)
    assert any(p.startswith("delta/sales_orders/order_date=2024-03-02/") for p in before)
    # The second day again, repeating the first day's order ids: key_unique fails.
    drops = platform.landing_dir / "sales"
    text = (drops / "sales_2024-03-01.csv").read_text().replace("2024-03-01", "2024-03-02")
    (drops / "sales_2024-03-02.csv").write_text(text)
    failed = run(platform, SALES_ASSETS, partition_key=DAYS[1])
    assert not failed.success
    assert not lake_materializations(failed, "sales_orders")
    assert snapshot(platform.lake_dir) == before
    # And a lake run of that day publishes only what the warehouse published: the old day.
    again = run(platform, ["lake/sales_orders"], partition_key=DAYS[1])
    assert again.success
    lake = DeltaTable(str(platform.lake_dir / "delta/sales_orders")).to_pyarrow_table()
    mine = lake.filter(pc.field("order_date") == date(2024, 3, 2)).sort_by("order_id")
    published = platform.warehouse.read(SALES_ORDERS, [DAYS[1]])
    assert mine.select(published.column_names).equals(published)


def test_a_lake_run_of_a_day_never_published_names_it_and_writes_the_others(platform):
    assert run(platform, SALES_ASSETS, range_tags(DAYS[0], DAYS[0])).success
    result = run(platform, ["lake/sales_orders"], range_tags(DAYS[0], DAYS[1]))
    assert not result.success
    [failure] = result.get_step_failure_events()
    message = failure.event_specific_data.error.message
    assert "never published them: 2024-03-02" in message and "1 of 2 written" in message
    assert set(lake_materializations(result, "sales_orders")) == {DAYS[0]}


KILLED_WRITER = """
import sys, time
import pyarrow as pa
from orchestration.storage.delta import DeltaLake

lake = DeltaLake(sys.argv[1])
schema = pa.schema([("order_date", pa.date32()), ("order_id", pa.string())])

def batches():
    for i in range(1000):
        if i == 20:
            print("MIDWAY", flush=True)
            time.sleep(120)
        ids = [f"NEW-{i}-{n}" for n in range(10_000)]
        yield pa.record_batch([pa.array([19783] * 10_000, pa.int32()).cast(pa.date32()),
                               pa.array(ids)], schema=schema)

reader = pa.RecordBatchReader.from_batches(schema, batches())
lake.replace_where("t", reader, "order_date", "order_date = '2024-03-01'")
"""


def test_a_write_killed_midway_leaves_the_last_version_readable_and_complete(tmp_path):
    lake = DeltaLake(str(tmp_path))
    schema = pa.schema([("order_date", pa.date32()), ("order_id", pa.string())])
    good = pa.table(
        {"order_date": [date(2024, 3, 1)] * 3, "order_id": ["A", "B", "C"]}, schema=schema
    )
    lake.replace_partition("t", good, "order_date", "2024-03-01")
    writer = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(KILLED_WRITER), str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "MIDWAY"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(30)
    assert writer.returncode == -signal.SIGKILL
    table = lake.table("t")
    assert table.version() == 0
    assert table.to_pyarrow_table().sort_by("order_id").equals(good)
    # The next write commits normally over it.
    lake.replace_partition("t", good.slice(0, 1), "order_date", "2024-03-01")
    assert lake.table("t").version() == 1 and lake.table("t").count() == 1


def test_an_empty_partition_replaces_the_old_rows_with_none(tmp_path):
    lake = DeltaLake(str(tmp_path))
    schema = pa.schema([("order_date", pa.date32()), ("order_id", pa.string())])
    for day, ids in ((date(2024, 3, 1), ["A", "B"]), (date(2024, 3, 2), ["C"])):
        rows = pa.table({"order_date": [day] * len(ids), "order_id": ids}, schema=schema)
        lake.replace_partition("t", rows, "order_date", day.isoformat())
    state = lake.replace_partition("t", schema.empty_table(), "order_date", "2024-03-01")
    assert (state.version, state.files, state.rows) == (2, 1, 1)
    assert lake.dataset("t").to_table()["order_id"].to_pylist() == ["C"]


def maintain(platform, retention_hours: int) -> dict[str, dict]:
    job = defs.resolve_job_def("lake_maintenance_job")
    result = job.execute_in_process(
        run_config={
            "ops": {"maintain_lake_tables": {"config": {"retention_hours": retention_hours}}}
        },
        resources={"lake": LakeResource(url=str(platform.lake_dir))},
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success
    return {
        e.asset_key.path[-1]: {
            k: v.value for k, v in e.asset_observation_data.asset_observation.metadata.items()
        }
        for e in result.all_events
        if e.event_type_value == "ASSET_OBSERVATION"
    }


def test_maintenance_compacts_without_changing_a_row_and_vacuums_within_its_window(platform):
    append(platform.warehouse, LANDING_LOGS, [log(at(h, 1), f"e{h}") for h in range(3)])
    for hour in HOURS:  # an hour at a time, as the landing sensor runs them: a file each
        assert run(platform, AssetSelection.groups("logs"), partition_key=hour).success
    uri = str(platform.lake_dir / "delta/logs")
    before = DeltaTable(uri)
    rows = before.to_pyarrow_table().sort_by("event_id")
    version = before.version()
    assert len(before.file_uris()) == 3

    observed = maintain(platform, retention_hours=168)
    logs = observed["logs"]
    assert (logs["files_before_compaction"], logs["table_files"]) == (3, 1)
    assert logs["files_vacuumed"] == 0 and logs["retention_hours"] == 168
    after = DeltaTable(uri)
    assert after.version() == version + 1
    assert after.to_pyarrow_table().sort_by("event_id").equals(rows)
    # Within the window, the versions before compaction still read.
    assert DeltaTable(uri, version=version).to_pyarrow_table().sort_by("event_id").equals(rows)

    observed = maintain(platform, retention_hours=0)
    assert observed["logs"]["files_vacuumed"] == 3
    assert DeltaTable(uri).to_pyarrow_table().sort_by("event_id").equals(rows)
    with pytest.raises(OSError):
        DeltaTable(uri, version=version).to_pyarrow_table()
    # Every table of the lake was maintained, and said so on its asset.
    assert set(observed) == set(DeltaLake(str(platform.lake_dir)).table_names())
