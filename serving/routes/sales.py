"""`/sales/orders`, `/sales/daily`, `/sales/rejects`: the cleaned CSV drops and their rollups."""

from __future__ import annotations

from typing import Any

from core.contracts import CONTRACTS, Contract
from serving.core.errors import ERROR_RESPONSES
from serving.deps import Context
from serving.list_endpoints import ListRoutes
from serving.params import LIST, Param
from serving.query import Filter, parse_filter

lists = ListRoutes(prefix="/sales", tags=["sales"], responses=ERROR_RESPONSES)
ORDERS, DAILY, REJECTS = (CONTRACTS[n] for n in ("sales_orders", "sales_daily", "sales_rejects"))

DATES = (
    Param("date_from", "date", "From this day (inclusive)."),
    Param("date_to", "date", "Up to this day (inclusive)."),
)
ORDER_PARAMS = (
    *LIST,
    *DATES,
    Param("product", "str", "Exact product name.", max_length=200),
    Param("customer", "str", "Customer id, e.g. `CUST-0042`.", max_length=64),
    Param("min_quantity", "int", "At least this many units.", ge=0, le=2**62),
    Param("max_quantity", "int", "At most this many units.", ge=0, le=2**62),
    Param("min_price", "float", "Unit price at least.", ge=0, le=1e12),
    Param("max_price", "float", "Unit price at most.", ge=0, le=1e12),
)
DAY_PARAMS = (*LIST, *DATES)


def _range(contract: Contract, column: str, low: Any, high: Any) -> list[Filter]:
    if low is None and high is None:
        return []
    col = contract.column(column)
    out = []
    if low is not None:
        out.append(Filter(col, "gte", low))
    if high is not None:
        out.append(Filter(col, "lte", high))
    return out


@lists.route("/orders", ORDERS, ORDER_PARAMS, summary="Sales orders")
def sales_orders(q: dict[str, Any], ctx: Context) -> list[Filter]:
    """Clean orders in (order_date, order_id) order: a date range walks the primary key."""
    filters = _range(ORDERS, "order_date", q.get("date_from"), q.get("date_to"))
    filters += _range(ORDERS, "quantity", q.get("min_quantity"), q.get("max_quantity"))
    filters += _range(ORDERS, "price", q.get("min_price"), q.get("max_price"))
    if (product := q.get("product")) is not None:
        filters.append(parse_filter(ORDERS, "product", product))
    if (customer := q.get("customer")) is not None:
        filters.append(parse_filter(ORDERS, "customer_id", customer))
    return filters


@lists.route("/daily", DAILY, DAY_PARAMS, summary="Daily sales")
def sales_daily(q: dict[str, Any], ctx: Context) -> list[Filter]:
    """Orders, units and revenue per day."""
    return _range(DAILY, "day", q.get("date_from"), q.get("date_to"))


@lists.route("/rejects", REJECTS, DAY_PARAMS, summary="Rejected rows")
def sales_rejects(q: dict[str, Any], ctx: Context) -> list[Filter]:
    """Rows of the drops that could not be cleaned, with the reason (e.g.
    `reason__contains=order_date`)."""
    return _range(REJECTS, "partition_date", q.get("date_from"), q.get("date_to"))
