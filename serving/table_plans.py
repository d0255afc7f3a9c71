"""What every listing of one table shares, computed once per table and engine: its column
names, the builder of its JSON rows, its parsed sorts and the SQL of its unfiltered pages."""

from __future__ import annotations

from collections.abc import Callable
from itertools import repeat
from typing import Any

from core.contracts import Contract
from serving.db.base import Database
from serving.query import Order, Select, keyset, parse_sort


def row_builder(
    names: list[str], converters: list[Callable[[Any], Any] | None]
) -> Callable[[list[tuple[Any, ...]]], list[dict[str, Any]]]:
    """`rows -> [{name: value}]` for these columns, each converter applied to its column
    (None: the value as fetched)."""
    convert = [
        (i, name, c)
        for i, (name, c) in enumerate(zip(names, converters, strict=True))
        if c is not None
    ]

    # The rows come from a SELECT of exactly these columns: zip needs no length check, and
    # `map` keeps the per-row loop in C (the builder runs for every row served).
    def build(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        dicts = list(map(dict, map(zip, repeat(names), rows)))
        if convert:
            for d, row in zip(dicts, rows, strict=True):
                for i, name, c in convert:
                    d[name] = c(row[i])
        return dicts

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
        self.to_dicts = row_builder(self.names, [db.converter(c) for c in contract.columns])
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
