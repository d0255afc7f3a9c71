"""`/logs` and `/logs/levels`: the pushed logs, as the hourly `logs` partitions hold them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from orchestration.contracts import CONTRACTS, Contract
from orchestration.contracts.datasets import LOG_SEVERITIES
from serving.core.errors import ERROR_RESPONSES
from serving.deps import Context
from serving.lean import list_route
from serving.params import LIST, SEARCH, Param
from serving.query import Filter, parse_filter

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


@list_route(router, "", LOGS, LOG_PARAMS, summary="Pushed logs", default_sort="-timestamp")
def list_logs(q: dict[str, Any], ctx: Context) -> list[Filter]:
    """Log records, newest first, in cursor mode; `search` matches words of the message;
    `service`, `severity`, `since` and `until` filter, as does any `col__op=value`."""
    return _filters(LOGS, q, {"since": "timestamp__gte", "until": "timestamp__lt"})


@list_route(
    router, "/levels", LEVELS, LEVEL_PARAMS, summary="Log counts per hour, service and severity"
)
def log_levels(q: dict[str, Any], ctx: Context) -> list[Filter]:
    """How many records each service logged at each severity, hour by hour."""
    return _filters(LEVELS, q, {"hour_from": "hour__gte", "hour_to": "hour__lte"})
