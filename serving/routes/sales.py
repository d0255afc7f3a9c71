"""`/sales/orders`, `/sales/daily`, `/sales/rejects`: the cleaned CSV drops and their rollups."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from orchestration.contracts import CONTRACTS, Contract
from serving.core.errors import ERROR_RESPONSES
from serving.deps import ListParams
from serving.listing import Listing
from serving.params import LIST, Param, openapi, parse
from serving.query import Filter, parse_filter
from serving.schemas import list_model

router = APIRouter(prefix="/sales", tags=["sales"], responses=ERROR_RESPONSES)
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
    col = contract.column(column)
    out = []
    if low is not None:
        out.append(Filter(col, "gte", low))
    if high is not None:
        out.append(Filter(col, "lte", high))
    return out


def _names(params: tuple[Param, ...]) -> frozenset[str]:
    return frozenset(p.name for p in params)


@router.get(
    "/orders",
    response_model=list_model("sales_orders"),
    summary="Sales orders",
    openapi_extra=openapi(ORDER_PARAMS),
)
async def sales_orders(request: Request) -> Response:
    """Clean orders in (order_date, order_id) order: a date range walks the primary key."""
    q = parse(request, ORDER_PARAMS)
    filters = _range(ORDERS, "order_date", q.get("date_from"), q.get("date_to"))
    filters += _range(ORDERS, "quantity", q.get("min_quantity"), q.get("max_quantity"))
    filters += _range(ORDERS, "price", q.get("min_price"), q.get("max_price"))
    if (product := q.get("product")) is not None:
        filters.append(parse_filter(ORDERS, "product", product))
    if (customer := q.get("customer")) is not None:
        filters.append(parse_filter(ORDERS, "customer_id", customer))
    listing = Listing(
        request, request.app.state.ctx, ORDERS, filters=filters, declared=_names(ORDER_PARAMS)
    )
    return await listing.respond(ListParams.of(q))


@router.get(
    "/daily",
    response_model=list_model("sales_daily"),
    summary="Daily sales",
    openapi_extra=openapi(DAY_PARAMS),
)
async def sales_daily(request: Request) -> Response:
    """Orders, units and revenue per day."""
    q = parse(request, DAY_PARAMS)
    filters = _range(DAILY, "day", q.get("date_from"), q.get("date_to"))
    listing = Listing(
        request, request.app.state.ctx, DAILY, filters=filters, declared=_names(DAY_PARAMS)
    )
    return await listing.respond(ListParams.of(q))


@router.get(
    "/rejects",
    response_model=list_model("sales_rejects"),
    summary="Rejected rows",
    openapi_extra=openapi(DAY_PARAMS),
)
async def sales_rejects(request: Request) -> Response:
    """Rows of the drops that could not be cleaned, with the reason (e.g.
    `reason__contains=order_date`)."""
    q = parse(request, DAY_PARAMS)
    filters = _range(REJECTS, "partition_date", q.get("date_from"), q.get("date_to"))
    listing = Listing(
        request, request.app.state.ctx, REJECTS, filters=filters, declared=_names(DAY_PARAMS)
    )
    return await listing.respond(ListParams.of(q))
