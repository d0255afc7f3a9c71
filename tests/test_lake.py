"""The lake: atomic, Hive-style writes on a local folder."""

import pyarrow as pa
import pytest

from orchestration.storage.lake import Lake, filesystem_for, hive_path


def test_hive_paths():
    assert hive_path("parquet/sales_orders", "order_date", "2024-03-01", "part-0.parquet") == (
        "parquet/sales_orders/order_date=2024-03-01/part-0.parquet"
    )


def test_parquet_and_csv_round_trip(tmp_path):
    lake = Lake(str(tmp_path))
    table = pa.table({"a": [1, 2], "b": ["x", None]})
    uri = lake.write_parquet("t/k=1/part-0.parquet", table)
    assert uri == str(tmp_path / "t/k=1/part-0.parquet")
    assert lake.read_parquet("t/k=1/part-0.parquet").equals(table)
    lake.write_csv("t/k=1/part-0.csv", table)
    assert lake.read_bytes("t/k=1/part-0.csv").decode().splitlines() == ['"a","b"', '1,"x"', "2,"]
    assert lake.list_files("t") == ["t/k=1/part-0.csv", "t/k=1/part-0.parquet"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_partial_one(tmp_path):
    lake = Lake(str(tmp_path))
    lake.write_bytes("d/part-0.csv", b"old,complete\n")

    def fail_halfway(out):
        out.write(b"new,half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        lake.write_with("d/part-0.csv", fail_halfway)
    assert lake.read_bytes("d/part-0.csv") == b"old,complete\n"
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["part-0.csv"]


def test_copy_from_another_filesystem_is_byte_exact(tmp_path):
    src = tmp_path / "landing.csv"
    src.write_bytes(b"a,b\n" + b"1,2\n" * 100_000)
    fs, _ = filesystem_for(str(tmp_path))
    lake = Lake(str(tmp_path / "lake"))
    lake.copy_from(fs, str(src), "raw/x.csv")
    assert lake.read_bytes("raw/x.csv") == src.read_bytes()


def test_unsupported_locations_are_refused():
    with pytest.raises(ValueError, match="ftp"):
        Lake("ftp://host/path")
