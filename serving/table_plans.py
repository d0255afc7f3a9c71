"""What every listing of one table shares, computed once per table and engine: its column
names, the builder of its JSON rows, its parsed sorts and the SQL of its unfiltered pages."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import make_dataclass
from itertools import starmap
from keyword import iskeyword
from typing import Any

from core.contracts import Contract
from serving.db.base import Database
from serving.query import Order, Select, keyset, parse_sort


def row_type(names: list[str]) -> Callable[..., Any]:
    """What one row of these columns is made into, from its values in column order: an
    instance of a dataclass with a field per column, which orjson writes as the JSON object
    `{name: value, ...}` in field order. Its `__init__` stores the values as attributes, far
    cheaper than hashing them into a dict, and orjson writes it almost as fast as a dict. A
    field is a Python identifier, and orjson leaves out attributes whose name starts with `_`:
    columns named otherwise make dicts."""
    if all(n.isidentifier() and not iskeyword(n) and not n.startswith("_") for n in names):
        return make_dataclass("Row", names)
    return lambda *values: dict(zip(names, values, strict=True))


def row_builder(
    names: list[str], converters: list[Callable[[Any], Any] | None]
) -> Callable[[list[tuple[Any, ...]]], list[Any]]:
    """`rows -> [row]` (see `row_type`) for these columns, each converter applied to its
    column (None: the value as fetched)."""
    make = row_type(names)
    convert = [(i, c) for i, c in enumerate(converters) if c is not None]

    # `starmap` and `map` keep the per-row loop in C (the builder runs for every row served).
    def build(rows: list[tuple[Any, ...]]) -> list[Any]:
        if not convert:
            return list(starmap(make, rows))
        columns: list[Iterable[Any]] = list(zip(*rows, strict=True)) or [()] * len(names)
        for i, c in convert:
            columns[i] = map(c, columns[i])
        return list(map(make, *columns))

    return build


class TablePlan:
    """What every listing of one table on one engine shares, computed once: the column names,
    the row builder, the parsed sorts and the SQL of unfiltered pages (the first page's above
    all), whose text depends only on the sort, the NULLs of the cursor, the limit and offset."""

    MAX_SQL = 4096

    def __init__(self, contract: Contract, db: Database) -> None:
        self.contract = contract
        self.names = contract.column_names
        self.index = {n: i for i, n in enumerate(self.names)}
        self.to_rows = row_builder(self.names, [db.converter(c) for c in contract.columns])
        self._orders: dict[str | None, Order] = {}
        self._sql: dict[tuple[Any, ...], str] = {}

    def order(self, sort: str | None) -> Order:
        order = self._orders.get(sort)
        if order is None:
            # Only valid sorts get here (parse_sort raises otherwise): a few per column.
            order = self._orders[sort] = parse_sort(self.contract, sort)
        return order

    def rows_sql(
        self, db: Database, select: Select, after: list[Any] | None, limit: int | None, offset: int
    ) -> tuple[str, list[Any]]:
        if select.filtered:
            return select.rows_sql(db, after=after, limit=limit, offset=offset)
        nulls = None if after is None else tuple(v is None for v in after)
        key = (select.order, nulls, limit, offset)
        sql = self._sql.get(key)
        if sql is None:
            if len(self._sql) >= self.MAX_SQL:
                self._sql.clear()
            sql = self._sql[key] = select.rows_sql(db, after=after, limit=limit, offset=offset)[0]
        assert select.order is not None
        return sql, (keyset(db, select.order, after)[1] if after is not None else [])


_PLANS: dict[tuple[type[Database], str], TablePlan] = {}


def table_plan(contract: Contract, db: Database) -> TablePlan:
    plan = _PLANS.get((type(db), contract.name))
    if plan is None or plan.contract is not contract:
        plan = _PLANS[(type(db), contract.name)] = TablePlan(contract, db)
    return plan
