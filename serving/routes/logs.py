"""`/logs` and `/logs/levels`: the pushed logs, as the hourly `logs` partitions hold them."""

from __future__ import annotations

from typing import Any

from core.contracts import CONTRACTS, Contract
from core.contracts.datasets import LOG_SEVERITIES, log_hour
from serving.core.errors import ERROR_RESPONSES
from serving.deps import Context
from serving.list_endpoints import ListRoutes
from serving.params import LIST, SEARCH, TIME_FORMS, Param
from serving.query import Filter, parse_filter

lists = ListRoutes(prefix="/logs", tags=["logs"], responses=ERROR_RESPONSES)
LOGS, LEVELS = CONTRACTS["logs"], CONTRACTS["log_levels_hourly"]

FILTERS = (
    Param("service", "str", "Only this service.", max_length=128),
    Param("severity", "enum", "Only this severity.", enum=LOG_SEVERITIES),
)
LOG_PARAMS = (
    *LIST,
    SEARCH,
    *FILTERS,
    Param("since", "time", f"Events at or after this time: {TIME_FORMS}."),
    Param("until", "time", f"Events before this time: {TIME_FORMS}."),
)
LEVEL_PARAMS = (
    *LIST,
    *FILTERS,
    Param("hour_from", "time", f"From the hour that holds this time: {TIME_FORMS}."),
    Param("hour_to", "time", f"Up to the hour that holds this time, inclusive: {TIME_FORMS}."),
)


def _filters(contract: Contract, q: dict[str, Any]) -> list[Filter]:
    """`service` and `severity` as filters on their columns."""
    return [parse_filter(contract, n, q[n]) for n in ("service", "severity") if n in q]


def _bound(contract: Contract, column: str, op: str, value: Any) -> list[Filter]:
    return [] if value is None else [Filter(contract.column(column), op, value)]


@lists.route("", LOGS, LOG_PARAMS, summary="Pushed logs", default_sort="-timestamp")
def list_logs(q: dict[str, Any], ctx: Context) -> list[Filter]:
    """Log records, newest first, in cursor mode; `search` matches words of the message;
    `service`, `severity`, `since` and `until` filter, as does any `col__op=value`."""
    return [
        *_filters(LOGS, q),
        *_bound(LOGS, "timestamp", "gte", q.get("since")),
        *_bound(LOGS, "timestamp", "lt", q.get("until")),
    ]


@lists.route("/levels", LEVELS, LEVEL_PARAMS, summary="Log counts per hour, service and severity")
def log_levels(q: dict[str, Any], ctx: Context) -> list[Filter]:
    """How many records each service logged at each severity, hour by hour; `hour_from` and
    `hour_to` take the same times as `since` and `until` of `/logs`."""
    hours = {k: log_hour(q[k]) for k in ("hour_from", "hour_to") if k in q}
    return [
        *_filters(LEVELS, q),
        *_bound(LEVELS, "hour", "gte", hours.get("hour_from")),
        *_bound(LEVELS, "hour", "lte", hours.get("hour_to")),
    ]
