"""The partition-aware writer, on SQLite and on PostgreSQL."""

import datetime as dt
import sqlite3

import psycopg
import pyarrow as pa
import pytest

from core.contracts import Column, Contract, ContractError
from core.contracts.datasets import (
    PARTITION_LEDGER,
    RECORDS,
    SALES_DAILY,
    SALES_ORDERS,
    USERS,
)
from core.warehouse import Warehouse, open_warehouse
from core.warehouse import indexes as indexes_module
from core.warehouse import postgres as postgres_module

D1, D2 = dt.date(2024, 3, 1), dt.date(2024, 3, 2)


def orders(*rows: tuple[str, int, dt.date]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "order_id": oid,
                "customer_id": f"C{qty}",
                "product": "Mouse, Wireless",
                "quantity": qty,
                "price": 9.99,
                "order_date": day,
            }
            for oid, qty, day in rows
        ],
        schema=SALES_ORDERS.arrow_schema,
    )


def test_replace_partition_writes_exactly_its_rows(warehouse: Warehouse):
    warehouse.replace_partitions(SALES_ORDERS, orders(("a", 1, D1), ("b", 2, D1)), ["2024-03-01"])
    warehouse.replace_partitions(SALES_ORDERS, orders(("c", 3, D2)), ["2024-03-02"])
    warehouse.replace_partitions(SALES_ORDERS, orders(("d", 4, D1)), ["2024-03-01"])
    table = warehouse.read(SALES_ORDERS)
    assert table.to_pylist() == orders(("d", 4, D1), ("c", 3, D2)).to_pylist()
    assert table.schema == SALES_ORDERS.arrow_schema


def test_rewriting_a_partition_is_idempotent(warehouse: Warehouse):
    data = orders(("a", 1, D1), ("b", 2, D1))
    warehouse.replace_partitions(SALES_ORDERS, data, ["2024-03-01"])
    first = warehouse.read(SALES_ORDERS)
    warehouse.replace_partitions(SALES_ORDERS, data, ["2024-03-01"])
    assert warehouse.read(SALES_ORDERS).equals(first)


def test_an_empty_partition_creates_the_table_and_clears_the_partition(warehouse: Warehouse):
    assert not warehouse.table_exists("sales_orders")
    warehouse.replace_partitions(SALES_ORDERS, SALES_ORDERS.empty(), ["2024-03-01"])
    assert warehouse.table_exists("sales_orders")
    assert warehouse.count(SALES_ORDERS) == 0
    warehouse.replace_partitions(SALES_ORDERS, orders(("a", 1, D1)), ["2024-03-01"])
    warehouse.replace_partitions(SALES_ORDERS, SALES_ORDERS.empty(), ["2024-03-01"])
    assert warehouse.count(SALES_ORDERS) == 0


def test_a_failed_write_leaves_the_previous_rows(warehouse: Warehouse):
    good = orders(("a", 1, D1), ("b", 2, D1))
    warehouse.replace_partitions(SALES_ORDERS, good, ["2024-03-01"])
    # A repeated key fails the primary key inside the transaction, after the DELETE ran.
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)):
        warehouse.replace_partitions(
            SALES_ORDERS, orders(("x", 1, D1), ("x", 2, D1)), ["2024-03-01"]
        )
    assert warehouse.read(SALES_ORDERS).to_pylist() == good.to_pylist()


def test_rows_outside_the_written_partitions_are_refused(warehouse: Warehouse):
    with pytest.raises(ContractError, match="outside the write"):
        warehouse.replace_partitions(SALES_ORDERS, orders(("a", 1, D2)), ["2024-03-01"])


def test_partitions_replaced_from_a_query_get_a_ledger_row_each(warehouse_url: str):
    wh = open_warehouse(warehouse_url, run_id="run-q")
    wh.replace_partitions(SALES_ORDERS, orders(("a", 1, D1), ("b", 2, D1), ("c", 3, D2)), [D1, D2])
    # sales_daily's shape, filled by SQL alone: two days, one of them with no orders.
    written = wh.replace_partitions_from_query(
        SALES_DAILY,
        ["2024-03-01", "2024-03-03"],
        "SELECT order_date, COUNT(*), SUM(quantity), SUM(quantity * price) FROM sales_orders "
        "WHERE order_date = :day GROUP BY order_date",
        {"day": D1},
    )
    assert written == {"2024-03-01": 1, "2024-03-03": 0}
    assert [(r["day"], r["orders"], r["units"]) for r in wh.read(SALES_DAILY).to_pylist()] == [
        (D1, 2, 3)
    ]
    ledger = {
        r["partition"]: (r["rows"], r["run_id"])
        for r in wh.read(PARTITION_LEDGER).to_pylist()
        if r["asset"] == "sales_daily"
    }
    assert ledger == {"2024-03-01": (1, "run-q"), "2024-03-03": (0, "run-q")}

    # A query that yields rows of another partition changes nothing.
    before = wh.read(SALES_DAILY)
    with pytest.raises(ContractError, match="in the partitions replaced"):
        wh.replace_partitions_from_query(
            SALES_DAILY,
            ["2024-03-01"],
            "SELECT order_date, COUNT(*), SUM(quantity), SUM(quantity * price) FROM sales_orders "
            "GROUP BY order_date",
        )
    assert wh.read(SALES_DAILY).equals(before)


def test_nulls_in_required_columns_are_refused(warehouse: Warehouse):
    bad = orders(("a", 1, D1)).set_column(0, "order_id", pa.array([None], pa.string()))
    with pytest.raises(ContractError, match="order_id"):
        warehouse.replace_partitions(SALES_ORDERS, bad, ["2024-03-01"])


def user(uid: int, name: str, email: str) -> dict:
    return {
        "id": uid,
        "uid": str(uid),
        "name": name,
        "username": name.lower(),
        "email": email,
        "source": "api",
        "lat": -37.3159,
        "phone": None,
        "website": "",
        "fetched_at": dt.datetime(2024, 3, 1, 12, 30, tzinfo=dt.UTC),
    }


def test_upsert_updates_by_key_and_round_trips_every_type(warehouse: Warehouse):
    warehouse.upsert(USERS, pa.Table.from_pylist([user(1, "Ann", "ann@x.org")], USERS.arrow_schema))
    warehouse.upsert(
        USERS,
        pa.Table.from_pylist(
            [user(1, "Anne", "ann@x.org"), user(2, "Bob", "bob@x.org")], USERS.arrow_schema
        ),
    )
    rows = warehouse.read(USERS).to_pylist()
    assert [(r["id"], r["name"]) for r in rows] == [(1, "Anne"), (2, "Bob")]
    # NULL and '' stay distinct; floats and timestamps survive the trip.
    assert rows[0]["phone"] is None and rows[0]["website"] == ""
    assert rows[0]["lat"] == -37.3159
    assert rows[0]["fetched_at"] == dt.datetime(2024, 3, 1, 12, 30, tzinfo=dt.UTC)


def test_unique_columns_are_enforced(warehouse: Warehouse):
    warehouse.upsert(USERS, pa.Table.from_pylist([user(1, "Ann", "a@x.org")], USERS.arrow_schema))
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)):
        warehouse.upsert(
            USERS, pa.Table.from_pylist([user(2, "Bob", "a@x.org")], USERS.arrow_schema)
        )
    assert warehouse.count(USERS) == 1


def test_every_write_is_recorded_in_the_ledger(warehouse_url: str):
    wh = open_warehouse(warehouse_url, run_id="run-1")
    wh.replace_partitions(
        SALES_ORDERS, orders(("a", 1, D1), ("b", 1, D1)), ["2024-03-01", "2024-03-02"]
    )
    ledger = {(r["asset"], r["partition"]): r for r in wh.read(PARTITION_LEDGER).to_pylist()}
    assert {k: v["rows"] for k, v in ledger.items()} == {
        ("sales_orders", "2024-03-01"): 2,
        ("sales_orders", "2024-03-02"): 0,
    }
    assert {v["run_id"] for v in ledger.values()} == {"run-1"}
    written = ledger[("sales_orders", "2024-03-01")]["written_at"]
    assert abs(written - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


def test_new_nullable_contract_columns_are_added_to_an_existing_table(warehouse_url: str):
    base = Contract("evolving", "t", (Column("id", "int", False),), key=("id",))
    grown = Contract(
        "evolving", "t", (Column("id", "int", False), Column("note", "string")), key=("id",)
    )
    open_warehouse(warehouse_url).upsert(base, pa.table({"id": [1]}))
    wh = open_warehouse(warehouse_url)
    wh.upsert(grown, pa.table({"id": [2], "note": ["hi"]}))
    assert wh.read(grown).to_pylist() == [{"id": 1, "note": None}, {"id": 2, "note": "hi"}]


def test_full_text_index_follows_writes(warehouse: Warehouse):
    now = "2024-03-01 00:00:00.000000Z"
    rows = [
        ("users", "1", "Leanne Graham", "sincere@april.biz", "Romaguera-Crona, Gwenborough"),
        ("posts", "7", "magnam facilis autem", "user 1", "dolore placeat quibusdam"),
    ]
    ts = warehouse.dialect.timestamp(":now")
    selects = [f"SELECT :s{i}, :id{i}, :n{i}, :v{i}, :d{i}, {ts}, {ts}" for i in range(len(rows))]
    params = {"now": now} | {
        f"{name}{i}": value
        for i, row in enumerate(rows)
        for name, value in zip(("s", "id", "n", "v", "d"), row, strict=True)
    }
    warehouse.replace_from_query(
        RECORDS, " UNION ALL ".join(selects), params, where={}, slice_name="all"
    )
    if warehouse.engine == "sqlite":
        sql = (
            "SELECT r.source_id FROM records r JOIN records_fts f ON f.rowid = r.rowid "
            "WHERE records_fts MATCH :q"
        )
    else:
        from core.sql import search_vector

        sql = (
            f"SELECT source_id FROM records WHERE {search_vector(RECORDS)} "
            "@@ websearch_to_tsquery('simple', :q)"
        )
    assert warehouse.query(sql, {"q": "gwenborough"}) == [("1",)]
    warehouse.replace_from_query(RECORDS, selects[1], params, where={}, slice_name="all")
    assert warehouse.query(sql, {"q": "gwenborough"}) == []
    assert warehouse.query(sql, {"q": "placeat"}) == [("7",)]


def test_unknown_url_schemes_are_refused():
    with pytest.raises(ValueError, match="mysql"):
        open_warehouse("mysql://localhost/db")


def test_values_that_look_like_nulls_stay_values(warehouse: Warehouse):
    from core.contracts.datasets import COUNTRIES

    row = {
        "code": "NA",
        "name": "Namibia",
        "native": "N/A",
        "capital": "NULL",
        "currency": "nan",
        "emoji": "",
        "continent_code": "AF",
        "continent_name": "Africa",
        "languages": "[]",
        "fetched_at": dt.datetime(2024, 3, 1, tzinfo=dt.UTC),
    }
    warehouse.replace_partitions(
        COUNTRIES, pa.Table.from_pylist([row], COUNTRIES.arrow_schema), ["AF"]
    )
    assert warehouse.read(COUNTRIES).to_pylist() == [row]


@pytest.mark.parametrize("same_day", [True, False], ids=["same-day", "other-days"])
def test_concurrent_writers_queue_instead_of_colliding(warehouse_url: str, same_day: bool):
    """Two runs writing one table at once, the same day or two days: both succeed, and each day
    holds one writer's rows."""
    import threading

    wh = open_warehouse(warehouse_url)
    days = [dt.date(2024, 3, 1), dt.date(2024, 3, 1 if same_day else 2)]
    wh.replace_partitions(SALES_ORDERS, orders(("o-1", 1, days[0])), [days[0].isoformat()])
    barrier, errors = threading.Barrier(2), []

    def rebuild(n: int, day: dt.date) -> None:
        rows = orders(*[(f"o-{i}", n, day) for i in range(500)])
        try:
            barrier.wait()
            open_warehouse(warehouse_url).replace_partitions(SALES_ORDERS, rows, [day.isoformat()])
        except Exception as exc:  # the test reports any writer's failure
            errors.append(exc)

    writers = zip((2, 3), days, strict=True)
    threads = [threading.Thread(target=rebuild, args=(n, d)) for n, d in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for day in set(days):
        table = wh.read(SALES_ORDERS, [day.isoformat()])
        assert table.num_rows == 500
        assert len(set(table.column("quantity").to_pylist())) == 1  # one writer's rows


def test_a_session_holds_one_connection_and_commits_each_write(warehouse_url: str):
    """`session()`: the writes of a range of days on one connection, each still its own
    transaction - a reader sees a day once its write ends, a failed day leaves the others."""
    wh, reader = open_warehouse(warehouse_url), open_warehouse(warehouse_url)
    with wh.session():
        with wh.transaction() as first:
            pass
        with wh.transaction() as second:
            pass
        assert first is second
        wh.replace_partitions(SALES_ORDERS, orders(("a", 1, D1)), ["2024-03-01"])
        assert reader.count(SALES_ORDERS) == 1
        with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)):
            wh.replace_partitions(SALES_ORDERS, orders(("x", 1, D2), ("x", 2, D2)), ["2024-03-02"])
        wh.replace_partitions(SALES_ORDERS, orders(("c", 3, D2)), ["2024-03-02"])
        assert reader.count(SALES_ORDERS) == 2
    assert reader.read(SALES_ORDERS).to_pylist() == orders(("a", 1, D1), ("c", 3, D2)).to_pylist()
    with wh.transaction() as third:
        pass
    with wh.transaction() as fourth:
        pass
    assert third is not first and third is not fourth


def test_a_sqlite_session_checkpoints_its_wal_once_at_its_end(tmp_path):
    """A session's commits leave the WAL to grow (no checkpoint every 1,000 pages, which
    rewrote the same index pages day after day); its end copies every frame into the file."""
    wh = open_warehouse(f"sqlite:///{tmp_path / 'wh.db'}")
    day_rows = 40_000  # ~1,200 WAL pages a day: past the default checkpoint threshold

    def unchecked_frames() -> int:
        # A PASSIVE checkpoint reports (busy, frames in the WAL, frames copied to the file);
        # after a finished checkpoint both are equal, and this one copies nothing new.
        with sqlite3.connect(wh.path) as probe:
            _, frames, copied = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return frames - copied

    with wh.session():
        with wh.transaction() as conn:
            assert conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
        for day in (D1, D2):
            rows = [(f"{day}-{i:06d}", 1 + i % 5, day) for i in range(day_rows)]
            wh.replace_partitions(SALES_ORDERS, orders(*rows), [day.isoformat()])
        wal_pages = (tmp_path / "wh.db-wal").stat().st_size // 4096
        assert wal_pages > 2_000  # both days' pages are still in the WAL
    assert unchecked_frames() == 0
    assert wh.count(SALES_ORDERS) == 2 * day_rows
    # A write outside a session keeps SQLite's default threshold.
    with wh.transaction() as conn:
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,)


def _indexes_of(wh: Warehouse, table: str) -> set[str]:
    if wh.engine == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :table"
    else:
        sql = "SELECT indexname FROM pg_indexes WHERE tablename = :table"
    return {name for (name,) in wh.query(sql, {"table": table})}


def _slices(day: dt.date, n: int, size: int = 10, first: int = 0) -> list[pa.Table]:
    rows = [(f"o{i:05d}", 1 + i % 7, day) for i in range(first, first + n)]
    return [orders(*rows[i : i + size]) for i in range(0, n, size)]


def _record_drops(wh: Warehouse, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Small writes count as large; records whether each write dropped its indexes."""
    monkeypatch.setattr(indexes_module, "DEFER_INDEXES_MIN_ROWS", 20)
    seen: list[bool] = []
    drop = wh._drop_indexes

    def recorded(conn, names):
        seen.append(drop(conn, names))
        return seen[-1]

    monkeypatch.setattr(wh, "_drop_indexes", recorded)
    return seen


@pytest.fixture
def drops(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    return _record_drops(warehouse, monkeypatch)


def test_a_write_larger_than_its_table_builds_the_indexes_at_its_end(warehouse, drops):
    index = "ix_sales_orders_customer_id"
    warehouse.replace_partitions(SALES_ORDERS, _slices(D1, 60), ["2024-03-01"])
    assert drops == [True]
    assert index in _indexes_of(warehouse, "sales_orders")
    # A day as large as the rest of the table keeps its indexes up to date row by row.
    warehouse.replace_partitions(SALES_ORDERS, _slices(D2, 60), ["2024-03-02"])
    assert drops == [True]
    assert warehouse.count(SALES_ORDERS) == 120
    by_customer = "SELECT COUNT(*) FROM sales_orders WHERE customer_id = :customer"
    assert warehouse.query(by_customer, {"customer": "C3"})[0][0] == 120 // 7 + 1
    assert index in _indexes_of(warehouse, "sales_orders")


def test_a_failed_large_write_keeps_the_old_rows_and_the_indexes(warehouse, drops):
    warehouse.replace_partitions(SALES_ORDERS, orders(("a", 1, D1)), ["2024-03-01"])
    bad = [*_slices(D1, 50), orders(("o00001", 1, D1))]  # a duplicate key in the last slice
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)):
        warehouse.replace_partitions(SALES_ORDERS, bad, ["2024-03-01"])
    assert drops == [True]
    assert warehouse.read(SALES_ORDERS).to_pylist() == orders(("a", 1, D1)).to_pylist()
    assert "ix_sales_orders_customer_id" in _indexes_of(warehouse, "sales_orders")


def test_postgres_keeps_the_indexes_when_a_reader_holds_the_table(pg_url, monkeypatch):
    wh = open_warehouse(pg_url)
    wh.ensure_table(SALES_ORDERS)
    monkeypatch.setattr(postgres_module, "DROP_INDEX_LOCK_TIMEOUT", "100ms")
    dropped = _record_drops(wh, monkeypatch)
    with psycopg.connect(pg_url) as reader:
        reader.execute("SELECT COUNT(*) FROM sales_orders").fetchone()  # holds its lock
        wh.replace_partitions(SALES_ORDERS, _slices(D1, 60), ["2024-03-01"])
    assert dropped == [False]
    assert wh.count(SALES_ORDERS) == 60
    assert "ix_sales_orders_customer_id" in _indexes_of(wh, "sales_orders")
