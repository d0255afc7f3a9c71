"""The dialect layer, every statement on SQLite and on PostgreSQL: named binds compiled to each
engine's placeholders (`core.statements`), each engine's DDL, expressions and upserts
(`core.sql`), and the warehouse's intent-named reads and deletes built on them."""

import datetime as dt
import json

import pyarrow as pa
import pytest

from core.contracts import Column, Contract
from core.contracts.datasets import CONTRACTS, PARTITION_LEDGER, SALES_ORDERS
from core.sql import PARAMS_PER_STATEMENT, POSTGRES, SQLITE, quote, timestamp_text
from core.statements import bind, compile_statement, where_equal
from core.warehouse import Warehouse, open_warehouse
from core.warehouse.writes import BULK_ROWS

# Every column type, a partition column, a unique and a secondary index, a full-text index.
PROBE = Contract(
    "dialect_probe",
    "Every column type, for the dialect tests.",
    (
        Column("day", "date", False),
        Column("id", "int", False),
        Column("name", "string", False),
        Column("price", "float"),
        Column("active", "bool"),
        Column("seen_at", "timestamp"),
        Column("attributes", "json"),
        Column("note", "string"),
    ),
    key=("id",),
    partition_column="day",
    unique=(("name",),),
    indexes=(("note",),),
    search=("name", "note"),
)
D1, D2 = dt.date(2024, 3, 1), dt.date(2024, 3, 2)
T1 = dt.datetime(2024, 3, 1, 12, 30, 15, 250000, tzinfo=dt.UTC)


def probe_rows() -> pa.Table:
    rows = [
        (D1, 1, "ant", 9.99, True, T1, '{"a": 1}', "100% cotton"),
        (D1, 2, "bee", 2.5, False, None, None, None),
        (D2, 3, "cat", None, None, T1, "[]", "12:30"),
    ]
    names = PROBE.column_names
    return pa.Table.from_pylist(
        [dict(zip(names, r, strict=True)) for r in rows], schema=PROBE.arrow_schema
    )


@pytest.fixture
def probe(warehouse: Warehouse) -> Warehouse:
    warehouse.replace_partitions(PROBE, probe_rows(), [D1.isoformat(), D2.isoformat()])
    return warehouse


# -- binds ------------------------------------------------------------------------------------
def test_named_binds_compile_to_each_engines_placeholders():
    sql = "SELECT 1 WHERE a = :a AND b IN :bs AND c = :a"
    assert bind(SQLITE, sql, {"a": 1, "bs": ["x", "y"]}) == (
        "SELECT 1 WHERE a = ? AND b IN (?, ?) AND c = ?",
        [1, "x", "y", 1],
    )
    assert bind(POSTGRES, sql, {"a": 1, "bs": ("x",)}) == (
        "SELECT 1 WHERE a = %s AND b IN (%s) AND c = %s",
        [1, "x", 1],
    )


def test_a_compiled_statement_is_reused_for_the_same_shape():
    sql = "SELECT 1 WHERE b IN :bs"
    first = compile_statement(SQLITE, sql, {"bs": ["x", "y"]})
    assert compile_statement(SQLITE, sql, {"bs": ["p", "q"]}) is first
    assert compile_statement(SQLITE, sql, {"bs": ["p"]}) is not first


def test_an_empty_list_is_refused():
    with pytest.raises(ValueError, match=":bs"):
        bind(SQLITE, "SELECT 1 WHERE b IN :bs", {"bs": []})


def test_binds_leave_literals_alone_and_take_unused_parameters(warehouse: Warehouse):
    """`%` and `:` inside string literals survive on both engines (PostgreSQL's driver would
    read a lone `%` as a placeholder); parameters a statement does not name are ignored."""
    rows = warehouse.query(
        "SELECT '100% sure', 'at 12:30', :n || '%', :n", {"n": "x", "unused": [1, 2]}
    )
    assert [tuple(r) for r in rows] == [("100% sure", "at 12:30", "x%", "x")]


def test_where_equal_builds_equalities_and_in_lists(probe: Warehouse):
    condition, params = where_equal({"day": [D1.isoformat(), D2.isoformat()], "name": "cat"})
    assert condition == '"day" IN :where_0 AND "name" = :where_1'
    assert probe.query(f"SELECT id FROM dialect_probe WHERE {condition}", params) == [(3,)]
    assert where_equal({}) == ("1 = 1", {})


# -- DDL --------------------------------------------------------------------------------------
def test_every_contracts_ddl_runs_and_runs_again(warehouse_url: str):
    for contract in CONTRACTS.values():
        open_warehouse(warehouse_url).ensure_table(contract)
    wh = open_warehouse(warehouse_url)  # a new object runs the idempotent DDL again
    for contract in CONTRACTS.values():
        wh.ensure_table(contract)
        with wh.transaction() as conn:
            for stmt in wh.dialect.create_statements(contract):
                conn.execute(stmt)
        assert wh.columns(contract.name) == list(contract.column_names)


def test_every_column_type_round_trips(probe: Warehouse):
    def parsed(rows: list[dict]) -> list[dict]:
        # JSON comes back as the engine spells it (PostgreSQL's JSONB normalizes it).
        return [r | {"attributes": r["attributes"] and json.loads(r["attributes"])} for r in rows]

    table = probe.read(PROBE)
    assert table.schema == PROBE.arrow_schema
    assert parsed(table.to_pylist()) == parsed(probe_rows().to_pylist())


def test_the_full_text_index_follows_the_rows(probe: Warehouse):
    from core.sql import search_vector

    if probe.engine == "sqlite":
        sql = (
            "SELECT p.id FROM dialect_probe p JOIN dialect_probe_fts f ON f.rowid = p.rowid "
            "WHERE dialect_probe_fts MATCH :q"
        )
    else:
        sql = (
            f"SELECT id FROM dialect_probe WHERE {search_vector(PROBE)} "
            "@@ websearch_to_tsquery('simple', :q)"
        )
    assert probe.query(sql, {"q": "cotton"}) == [(1,)]
    probe.delete_rows(PROBE.name, {"id": 1})
    assert probe.query(sql, {"q": "cotton"}) == []


# -- expressions ------------------------------------------------------------------------------
def test_expressions_agree_across_engines(probe: Warehouse):
    d = probe.dialect
    rows = probe.query(
        f"SELECT {d.decimal_text('price * 2', 2)}, "
        f"CASE WHEN {d.date_to_timestamp('day')} = {d.timestamp(':midnight')} THEN 1 ELSE 0 END "
        "FROM dialect_probe WHERE id = :id",
        {"id": 1, "midnight": timestamp_text(dt.datetime(2024, 3, 1, tzinfo=dt.UTC))},
    )
    assert [tuple(r) for r in rows] == [("19.98", 1)]


def test_json_text_goes_into_a_json_column(probe: Warehouse):
    with probe.transaction() as conn:
        probe.execute(
            conn,
            f"UPDATE dialect_probe SET attributes = {probe.dialect.json(':j')} WHERE id = :id",
            {"j": json.dumps({"k": [1, 2]}), "id": 2},
        )
    [row] = probe.read(PROBE, [D1.isoformat()]).filter(pa.compute.field("id") == 2).to_pylist()
    assert json.loads(row["attributes"]) == {"k": [1, 2]}


def test_the_select_list_reads_timestamps_as_utc(probe: Warehouse):
    with probe.transaction() as conn:
        table = probe.select(conn, PROBE, "id = :id", {"id": 3})
    assert table.column("seen_at").to_pylist() == [T1]


# -- statements -------------------------------------------------------------------------------
def test_upsert_from_values_inserts_then_updates(warehouse: Warehouse):
    contract = Contract("kv", "k/v", (Column("k", "string", False), Column("v", "int")), key=("k",))
    warehouse.ensure_table(contract)
    stmt = warehouse.dialect.upsert("kv", ("k", "v"), ("k",), "VALUES (:k, :v)")
    with warehouse.transaction() as conn:
        warehouse.execute(conn, stmt, {"k": "a", "v": 1})
        warehouse.execute(conn, stmt, {"k": "a", "v": 2})
        warehouse.execute(conn, stmt, {"k": "b", "v": 3})
    assert warehouse.query("SELECT k, v FROM kv ORDER BY k") == [("a", 2), ("b", 3)]


def test_upsert_of_key_only_rows_does_nothing_on_conflict(warehouse: Warehouse):
    contract = Contract("keys", "keys", (Column("k", "string", False),), key=("k",))
    warehouse.ensure_table(contract)
    stmt = warehouse.dialect.upsert("keys", ("k",), ("k",), "SELECT :k")
    with warehouse.transaction() as conn:
        warehouse.execute(conn, stmt, {"k": "a"})
        warehouse.execute(conn, stmt, {"k": "a"})
    assert warehouse.query("SELECT k FROM keys") == [("a",)]


def test_a_temporary_table_like_another_is_empty_and_private(probe: Warehouse):
    with probe.transaction() as conn:
        conn.execute(probe.dialect.temp_table_like("_probe_copy", PROBE.name))
        probe.execute(
            conn,
            f'INSERT INTO "_probe_copy" SELECT * FROM {quote(PROBE.name)} WHERE id IN :ids',
            {"ids": [1, 3]},
        )
        assert probe.execute(conn, 'SELECT COUNT(*) FROM "_probe_copy"').fetchone()[0] == 2
        conn.execute('DROP TABLE "_probe_copy"')


def test_a_bulk_write_leaves_the_planner_statistics_current(warehouse: Warehouse):
    # PostgreSQL plans the audits by the table's statistics: a bulk write refreshes them at once
    # (autovacuum would, a minute or more later). SQLite plans by its indexes alone.
    n = BULK_ROWS
    rows = pa.Table.from_pylist(
        [{"day": D1, "id": i, "name": f"n{i}"} for i in range(n)]
        + [{"day": D2, "id": n + 1, "name": "small"}],
        schema=PROBE.arrow_schema,
    )
    warehouse.replace_partitions(PROBE, rows, [D1.isoformat(), D2.isoformat()])
    if warehouse.dialect is SQLITE:
        assert warehouse.dialect.refresh_statistics(PROBE.name) is None
        return
    (estimate,) = warehouse.query(
        "SELECT reltuples FROM pg_class WHERE relname = :name", {"name": PROBE.name}
    )[0]
    assert estimate == n + 1
    # A small write leaves them to autovacuum.
    warehouse.replace_partitions(PROBE, rows.slice(n), [D2.isoformat()])
    (estimate,) = warehouse.query(
        "SELECT reltuples FROM pg_class WHERE relname = :name", {"name": PROBE.name}
    )[0]
    assert estimate == n + 1


# -- the warehouse's intent-named statements ---------------------------------------------------
def test_delete_rows_by_value_and_by_list(probe: Warehouse):
    assert probe.delete_rows(PROBE.name, {"name": "bee"}) == 1
    assert probe.delete_rows(PROBE.name, {"id": [1, 3, 99]}) == 2
    assert probe.count(PROBE) == 0


def test_max_value_with_and_without_a_floor(probe: Warehouse):
    assert probe.max_value(PROBE.name, "id") == 3
    assert probe.max_value(PROBE.name, "id", above=2) == 3
    assert probe.max_value(PROBE.name, "id", above=3) is None


def test_count_by_counts_every_key_in_slices(probe: Warehouse):
    keys = [D1.isoformat(), D2.isoformat(), "2024-03-03"]
    assert probe.count_by(PROBE.name, "day", keys) == {
        "2024-03-01": 2,
        "2024-03-02": 1,
        "2024-03-03": 0,
    }
    # More keys than one statement takes go in several.
    many = [f"k{i}" for i in range(PARAMS_PER_STATEMENT + 5)]
    counts = probe.count_by(PROBE.name, "name", [*many, "ant"])
    assert counts["ant"] == 1 and sum(counts.values()) == 1


def test_count_of_partitions(probe: Warehouse):
    assert probe.count(PROBE) == 3
    assert probe.count(PROBE, [D2.isoformat()]) == 1
    assert probe.count(PROBE, []) == 0


def test_has_rows_outside_a_partition(probe: Warehouse):
    with probe.transaction() as conn:
        assert probe.has_rows_outside(conn, PROBE, D1.isoformat())
        probe.delete_rows(PROBE.name, {"day": D2.isoformat()}, conn=conn)
        assert not probe.has_rows_outside(conn, PROBE, D1.isoformat())


def test_the_ledger_answers_by_partition(warehouse: Warehouse):
    days = ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04"]
    for i, day in enumerate(days):
        warehouse.replace_partitions(
            SALES_ORDERS,
            pa.Table.from_pylist(
                [
                    {
                        "order_id": f"{day}-{n}",
                        "customer_id": "C1",
                        "product": "Mouse",
                        "quantity": 1,
                        "price": 1.0,
                        "order_date": dt.date.fromisoformat(day),
                    }
                    for n in range(i + 1)
                ],
                schema=SALES_ORDERS.arrow_schema,
            ),
            [day],
        )
    assert warehouse.partition_rows("sales_orders", "2024-03-03") == 3
    assert warehouse.partition_rows("sales_orders", "2024-03-09") is None
    assert warehouse.partition_history("sales_orders", "2024-03-04", limit=2) == [3, 2]
    assert warehouse.published(SALES_ORDERS, [*days, "2024-03-09"]) == set(days)
    ledger = warehouse.read(PARTITION_LEDGER)
    assert ledger.num_rows == 4

    warehouse.quarantine("sales_orders", "2024-03-02", {"value_ranges": probe_rows()})
    held = "SELECT COUNT(*) FROM quarantine WHERE partition = :day"
    assert warehouse.query(held, {"day": "2024-03-02"}) == [(3,)]
    warehouse.release("sales_orders", ["2024-03-02"])
    assert warehouse.query(held, {"day": "2024-03-02"}) == [(0,)]
