"""`/logs` and `/logs/levels`: the pushed logs, as the hourly `logs` partitions hold them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from orchestration.contracts import CONTRACTS, Contract
from orchestration.contracts.datasets import LOG_SEVERITIES
from serving.core.errors import ERROR_RESPONSES
from serving.deps import ListParams
from serving.listing import Listing
from serving.params import LIST, SEARCH, Param, openapi, parse
from serving.query import Filter, parse_filter
from serving.schemas import list_model

router = APIRouter(prefix="/logs", tags=["logs"], responses=ERROR_RESPONSES)
LOGS, LEVELS = CONTRACTS["logs"], CONTRACTS["log_levels_hourly"]
HOUR = r"\d{4}-\d{2}-\d{2}-\d{2}:00"

FILTERS = (
    Param("service", "str", "Only this service.", max_length=128),
    Param("severity", "enum", "Only this severity.", enum=LOG_SEVERITIES),
)
LOG_PARAMS = (
    *LIST,
    SEARCH,
    *FILTERS,
    Param("since", "str", "Events at or after this time (ISO 8601).", max_length=64),
    Param("until", "str", "Events before this time (ISO 8601).", max_length=64),
)
LEVEL_PARAMS = (
    *LIST,
    *FILTERS,
    Param("hour_from", "str", "From this hour, e.g. `2024-03-01-14:00`.", pattern=HOUR),
    Param("hour_to", "str", "Up to this hour (inclusive).", pattern=HOUR),
)


def _filters(contract: Contract, q: dict[str, Any], bounds: dict[str, str]) -> list[Filter]:
    """`service`, `severity`, and each bound parameter as its `column__op` filter."""
    ops = {"service": "service", "severity": "severity", **bounds}
    return [parse_filter(contract, op, str(q[name])) for name, op in ops.items() if name in q]


@router.get(
    "",
    response_model=list_model("logs"),
    summary="Pushed logs",
    openapi_extra=openapi(LOG_PARAMS),
)
async def list_logs(request: Request) -> Response:
    """Log records, newest first, in cursor mode; `search` matches words of the message;
    `service`, `severity`, `since` and `until` filter, as does any `col__op=value`."""
    q = parse(request, LOG_PARAMS)
    filters = _filters(LOGS, q, {"since": "timestamp__gte", "until": "timestamp__lt"})
    listing = Listing(
        request,
        request.app.state.ctx,
        LOGS,
        filters=filters,
        search=q.get("search"),
        declared=frozenset(p.name for p in LOG_PARAMS),
    )
    params = ListParams.of(q)
    params.sort = params.sort or "-timestamp"
    return await listing.respond(params)


@router.get(
    "/levels",
    response_model=list_model("log_levels_hourly"),
    summary="Log counts per hour, service and severity",
    openapi_extra=openapi(LEVEL_PARAMS),
)
async def log_levels(request: Request) -> Response:
    """How many records each service logged at each severity, hour by hour."""
    q = parse(request, LEVEL_PARAMS)
    filters = _filters(LEVELS, q, {"hour_from": "hour__gte", "hour_to": "hour__lte"})
    listing = Listing(
        request,
        request.app.state.ctx,
        LEVELS,
        filters=filters,
        declared=frozenset(p.name for p in LEVEL_PARAMS),
    )
    return await listing.respond(ListParams.of(q))
