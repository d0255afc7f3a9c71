"""The sales cleaning rules on crafted rows and on generated drops."""

from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from core.contracts import ContractError
from orchestration.defs.sales_csv.cleaning import DropCleaner, clean_sales, duplicates
from sample_sources.sales import generate_day_with_stats

DAY = date(2024, 3, 1)
HEADER = "order_id,customer_id,product,quantity,price,order_date\n"


def clean(*lines: str, day: date = DAY):
    return clean_sales((HEADER + "\n".join(lines) + "\n").encode(), day)


def by_id(result) -> dict[str, dict]:
    return {r["order_id"]: r for r in result.orders.to_pylist()}


def reasons_by_line(result) -> dict[int, str]:
    return {r["line"]: r["reason"] for r in result.rejects.to_pylist()}


def test_duplicates_keep_the_first_occurrence():
    result = clean(
        "ORD-1,C1,Widget,2,3.50,2024-03-01",
        "ORD-2,C2,Gadget,1,1.00,2024-03-01",
        "ORD-1,C9,Other,5,9.99,2024-03-01",
    )
    assert by_id(result)["ORD-1"]["customer_id"] == "C1"
    assert by_id(result)["ORD-1"]["quantity"] == 2
    assert result.duplicates == 1
    assert result.orders.num_rows == 2


def test_deduplication_runs_before_the_date_rule():
    # The first ORD-1 is kept by rule 1 and then rejected by rule 3; its later copy stays a
    # duplicate: the source documents' order of the rules.
    result = clean("ORD-1,C1,Widget,2,3.50,2024-02-30", "ORD-1,C1,Widget,2,3.50,2024-03-01")
    assert result.orders.num_rows == 0
    assert result.duplicates == 1
    assert reasons_by_line(result) == {2: "impossible order_date: '2024-02-30'"}


def test_missing_quantity_becomes_one():
    result = clean("ORD-1,C1,Widget,,3.50,2024-03-01", "ORD-2,C1,Widget,  ,3.50,2024-03-01")
    assert [r["quantity"] for r in result.orders.to_pylist()] == [1, 1]
    assert result.quantity_filled == 2


@pytest.mark.parametrize("bad_date", ["2023-02-29", "2024-02-30", "2024-04-31", "2024-13-01"])
def test_impossible_dates_are_rejected_not_rolled_over(bad_date):
    # pyarrow's strptime alone would turn 2024-02-30 into 2024-03-01 and keep the row.
    result = clean(f"ORD-1,C1,Widget,1,3.50,{bad_date}", day=DAY)
    assert result.orders.num_rows == 0
    reason = reasons_by_line(result)[2]
    assert bad_date in reason
    assert reason.split(":")[0] in {"impossible order_date", "unparseable order_date"}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "missing order_date"),
        ("not-a-date", "unparseable order_date: 'not-a-date'"),
        ("2024-03-02", "order_date outside the drop's day: '2024-03-02'"),
    ],
)
def test_missing_unparseable_or_foreign_dates_are_rejected(value, reason):
    result = clean(f"ORD-1,C1,Widget,1,3.50,{value}")
    assert reasons_by_line(result) == {2: reason}


def test_whitespace_is_trimmed_and_types_enforced():
    result = clean('  ORD-1 , C1 ,"  Gadget, large ", 3 , 2.50 , 2024-03-01 ')
    row = by_id(result)["ORD-1"]
    assert row == {
        "order_id": "ORD-1",
        "customer_id": "C1",
        "product": "Gadget, large",
        "quantity": 3,
        "price": 2.5,
        "order_date": DAY,
    }


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("ORD-1,C1,Widget,x,3.50,2024-03-01", "invalid quantity: 'x'"),
        ("ORD-1,C1,Widget,1.5,3.50,2024-03-01", "invalid quantity: '1.5'"),
        ("ORD-1,C1,Widget,0,3.50,2024-03-01", "non-positive quantity: '0'"),
        ("ORD-1,C1,Widget,1,,2024-03-01", "missing price"),
        ("ORD-1,C1,Widget,1,abc,2024-03-01", "invalid price: 'abc'"),
        ("ORD-1,C1,Widget,1,-2,2024-03-01", "negative price: '-2'"),
        (",C1,Widget,1,2,2024-03-01", "missing order_id"),
        ("ORD-1,,Widget,1,2,2024-03-01", "missing customer_id"),
        ("ORD-1,C1,,1,2,2024-03-01", "missing product"),
    ],
)
def test_bad_values_are_rejected_with_their_reason(line, reason):
    result = clean(line)
    assert result.orders.num_rows == 0
    assert reasons_by_line(result) == {2: reason}


def test_malformed_and_blank_lines_keep_exact_line_numbers():
    result = clean(
        "ORD-1,C1,Widget,1,2.00,2024-03-01",  # line 2
        "ORD-2,C2,Widget,1,2.00",  # line 3: 5 fields
        "",  # line 4: blank
        "ORD-3,C3,Widget,1,2.00,2024-03-01,extra",  # line 5: 7 fields
        "ORD-4,C4,Widget,1,2.00,2024-02-30",  # line 6
    )
    rejects = {r["line"]: (r["reason"], r["raw"]) for r in result.rejects.to_pylist()}
    assert rejects == {
        3: ("malformed line: 5 fields, expected 6", "ORD-2,C2,Widget,1,2.00"),
        5: ("malformed line: 7 fields, expected 6", "ORD-3,C3,Widget,1,2.00,2024-03-01,extra"),
        6: ("impossible order_date: '2024-02-30'", "ORD-4,C4,Widget,1,2.00,2024-02-30"),
    }
    assert result.blank_lines == 1
    assert list(by_id(result)) == ["ORD-1"]


def test_reject_raw_is_the_row_as_received():
    result = clean('ORD-1,C1,"Monitor 27""",1,2.00,nope')
    assert result.rejects.to_pylist()[0]["raw"] == 'ORD-1,C1,"Monitor 27""",1,2.00,nope'


def test_a_wrong_header_fails_the_whole_drop():
    with pytest.raises(ContractError, match="header"):
        clean_sales(b"id,customer,product,qty,price,date\n1,2,3,4,5,6\n", DAY)


def test_every_generated_line_is_accounted_for():
    text, stats = generate_day_with_stats(DAY, 20_000, seed=7)
    result = clean_sales(text.encode(), DAY)
    data_lines = text.count("\n") - 1
    assert result.rows_read == data_lines == stats.rows
    assert result.orders.num_rows + result.rejects.num_rows + result.duplicates == data_lines
    assert result.duplicates == stats.duplicates
    assert result.reasons["malformed line"] == stats.malformed
    assert result.quantity_filled >= stats.missing_quantity * 0.9
    # Clean rows: unique keys, real dates on the drop's day, positive quantities.
    assert result.orders.num_rows == len(set(result.orders["order_id"].to_pylist()))
    assert pc.all(pc.equal(result.orders["order_date"], DAY)).as_py()
    assert pc.min(result.orders["quantity"]).as_py() >= 1
    assert 0.0 < result.reject_ratio < 0.05


def test_small_blocks_clean_exactly_like_one_block():
    # Duplicates, malformed lines and line numbers across block boundaries.
    text, _ = generate_day_with_stats(DAY, 5_000, seed=11)
    whole = clean_sales(text.encode(), DAY)
    cleaner = DropCleaner(text.encode(), DAY, block_bytes=8 << 10)
    blocks = list(cleaner.orders())
    assert len(blocks) > 10
    streamed = cleaner.result(pa.concat_tables(blocks))
    assert streamed.orders.equals(whole.orders)
    assert streamed.rejects.equals(whole.rejects)
    assert (streamed.duplicates, streamed.rows_read, streamed.quantity_filled) == (
        whole.duplicates,
        whole.rows_read,
        whole.quantity_filled,
    )
    assert streamed.orders_written == whole.orders.num_rows


def test_result_before_the_orders_are_read_is_an_error():
    with pytest.raises(RuntimeError):
        DropCleaner(HEADER.encode(), DAY).result()


def _ids_of_mixed_lengths() -> str:
    # Ids of 5 to 9 characters, each repeated in a later block, some with other fields.
    lines = [f"ORD-{n},C{n % 7},Widget,{1 + n % 3},2.50,2024-03-01" for n in range(1, 3000, 7)]
    lines += [f"ORD-{n},C0,Other,9,9.99,2024-03-01" for n in range(1, 3000, 21)]
    lines += [f"ORD-{n}{n},C1,Widget,1,1.00,2024-03-01" for n in range(1, 400, 3)]
    lines += [f"ORD-{n},C2,Widget,2,1.00,2024-03-01" for n in range(2, 3000, 11)]
    return HEADER + "\n".join(lines) + "\n"


def test_duplicates_across_blocks_are_found_whatever_the_id_lengths():
    text = _ids_of_mixed_lengths()
    whole = clean_sales(text.encode(), DAY)
    cleaner = DropCleaner(text.encode(), DAY, block_bytes=2 << 10)
    blocks = list(cleaner.orders())
    assert len(blocks) > 10
    streamed = cleaner.result(pa.concat_tables(blocks))
    ids = streamed.orders["order_id"].to_pylist()
    assert len(ids) == len(set(ids))
    assert streamed.orders.equals(whole.orders)
    assert streamed.duplicates == whole.duplicates > 0


def test_ids_sharing_a_hash_are_still_told_apart(monkeypatch):
    # Every id of one length shares one hash: each match must be confirmed on the id itself.
    text = _ids_of_mixed_lengths()
    expected = DropCleaner(text.encode(), DAY, block_bytes=2 << 10)
    expected_orders = pa.concat_tables(list(expected.orders()))
    monkeypatch.setattr(
        duplicates, "hash_strings", lambda values: pc.utf8_length(values).to_numpy().astype("u8")
    )
    cleaner = DropCleaner(text.encode(), DAY, block_bytes=2 << 10)
    orders = pa.concat_tables(list(cleaner.orders()))
    assert orders.equals(expected_orders)
    assert cleaner.result().duplicates == expected.result().duplicates
