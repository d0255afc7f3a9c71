"""The lake and the landing area on S3, against a local S3-compatible server (moto) over
loopback: the same assets, the same files, the same atomicity."""

from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance, materialize

from core.contracts.datasets import SALES_ORDERS
from orchestration.backfill import SALES_ASSETS
from orchestration.definitions import defs
from orchestration.resources.sources import CsvLandingResource
from orchestration.resources.storage import LakeResource
from orchestration.storage.delta import DeltaLake
from orchestration.storage.lake import Lake
from sample_sources.sales import write_drops
from tests.conftest import S3_BUCKET as BUCKET

all_assets = defs().assets


def s3_files(endpoint: str, prefix: str) -> list[str]:
    fs = Lake(f"s3://{BUCKET}", endpoint).fs
    infos = fs.get_file_info(pafs.FileSelector(f"{BUCKET}/{prefix}", recursive=True))
    return sorted(i.path for i in infos if i.type == pafs.FileType.File)


def test_sales_assets_read_drops_from_s3_and_export_to_s3(platform, s3_endpoint, tmp_path):
    # The drops land in the bucket, not on disk.
    local = tmp_path / "drops"
    write_drops(local, date(2024, 3, 1), 2, 400)
    landing = Lake(f"s3://{BUCKET}/landing", s3_endpoint)
    for path in sorted((local / "sales").iterdir()):
        landing.write_bytes(f"sales/{path.name}", path.read_bytes())

    resources = platform.resources(
        lake=LakeResource(url=f"s3://{BUCKET}/lake", s3_endpoint=s3_endpoint),
        landing=CsvLandingResource(location=f"s3://{BUCKET}/landing", s3_endpoint=s3_endpoint),
    )
    days = ["2024-03-01", "2024-03-02"]
    result = materialize(
        all_assets,
        selection=SALES_ASSETS,
        tags={
            "dagster/asset_partition_range_start": days[0],
            "dagster/asset_partition_range_end": days[-1],
        },
        resources=resources,
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success

    lake = Lake(f"s3://{BUCKET}/lake", s3_endpoint)
    published = DeltaLake(lake.url, s3_endpoint).table("sales_orders").to_pyarrow_table()
    for day in days:
        raw = lake.read_bytes(f"raw/sales/order_date={day}/sales_{day}.csv")
        assert raw == (local / "sales" / f"sales_{day}.csv").read_bytes()
        expected = platform.warehouse.read(SALES_ORDERS, [day])
        mine = published.filter(pc.field("order_date") == date.fromisoformat(day))
        assert mine.sort_by("order_id").select(expected.column_names).equals(expected)
        csv_text = lake.read_bytes(f"csv/sales_orders/order_date={day}/part-0.csv").decode()
        assert len(csv_text.splitlines()) == expected.num_rows + 1
    # No temporary object is left behind anywhere in the lake.
    assert not [p for p in s3_files(s3_endpoint, "lake") if "/." in p]


def test_a_failed_upload_leaves_no_object_under_the_final_name(s3_endpoint):
    lake = Lake(f"s3://{BUCKET}/atomic", s3_endpoint)
    lake.write_parquet("t/part-0.parquet", pa.table({"v": [1, 2, 3]}))

    def fail_halfway(out):
        pq.write_table(pa.table({"v": list(range(100_000))}), out)
        raise OSError("connection reset")

    with pytest.raises(OSError, match="connection reset"):
        lake.write_with("t/part-0.parquet", fail_halfway)
    assert lake.read_parquet("t/part-0.parquet").to_pydict() == {"v": [1, 2, 3]}
    assert s3_files(s3_endpoint, "atomic") == [f"{BUCKET}/atomic/t/part-0.parquet"]

    with pytest.raises(OSError):
        lake.write_with("t/new.parquet", fail_halfway)
    assert not lake.exists("t/new.parquet")
