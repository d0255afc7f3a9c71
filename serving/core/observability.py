"""Structured access logs, Prometheus metrics and request ids, in one pure ASGI middleware."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("serving.access")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra` fields."""

    RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": utc_text(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self.RESERVED:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        try:
            # orjson: the access log formats a line per request, and stdlib json cost 4x more.
            return orjson.dumps(out, default=str).decode()
        except TypeError:  # an integer beyond 64 bits
            return json.dumps(out, default=str)


_second: tuple[int, str] = (-1, "")


def utc_text(created: float) -> str:
    """`created` (seconds since the epoch) as `YYYY-MM-DDTHH:MM:SS.mmmZ`; the part up to the
    second is formatted once a second."""
    global _second
    whole = int(created)
    if _second[0] != whole:
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_second[1]}.{int((created - whole) * 1000):03d}Z"


def log_config(level: str = "INFO") -> dict[str, Any]:
    """`logging.config.dictConfig` for uvicorn and the serving loggers: JSON lines on stderr."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "serving.core.observability.JsonFormatter"}},
        "handlers": {"default": handler},
        "loggers": {
            "serving": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


class Metrics:
    """The app's own registry, so that several apps (tests) never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "serving_http_requests",
            "HTTP requests by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "serving_http_request_duration_seconds",
            "Time to answer, by route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )


class AppCollector(Collector):
    """Database statements and table freshness, read from the app's state at scrape time."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        ctx = getattr(self.app.state, "ctx", None)
        if ctx is None:
            return
        queries = CounterMetricFamily(
            "serving_db_queries", "Statements run against the warehouse, by kind.", labels=["kind"]
        )
        for kind, n in sorted(ctx.db.queries.items()):
            queries.add_metric([kind], n)
        yield queries
        last = GaugeMetricFamily(
            "serving_table_last_write_timestamp_seconds",
            "Last write of each table (partition_ledger), Unix time.",
            labels=["table"],
        )
        import datetime as dt

        for table, entry in sorted(ctx.catalog.snapshot.ledger.items()):
            stamp = dt.datetime.fromisoformat(entry.last_write).timestamp()
            last.add_metric([table], stamp)
        yield last


def metrics_response(app: FastAPI) -> Response:
    return Response(
        generate_latest(app.state.metrics.registry),
        media_type="text/plain; version=0.0.4; charset=utf-8",
        headers={"Cache-Control": "no-store"},
    )


class ObservabilityMiddleware:
    """Request id (`X-Request-ID`, echoed or made), one access-log line and two metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics, log_requests: bool) -> None:
        self.app, self.metrics, self.log_requests = app, metrics, log_requests
        # The labelled children of the two metrics, looked up once per method, route, status.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = None
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                request_id = value[:64].decode("latin-1")
                break
        request_id = request_id or uuid.uuid4().hex
        status = 500
        length = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status, length
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            elif message["type"] == "http.response.body":
                length += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            series = self._series.get((method, template, status))
            if series is None:
                series = self._series[(method, template, status)] = (
                    self.metrics.requests.labels(method, template, str(status)),
                    self.metrics.latency.labels(method, template),
                )
            series[0].inc()
            series[1].observe(elapsed)
            if self.log_requests:
                client = scope.get("client")
                access_log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": method,
                        "path": scope["path"],
                        "query": scope.get("query_string", b"").decode("latin-1")[:500],
                        "route": template,
                        "status": status,
                        "bytes": length,
                        "duration_ms": round(elapsed * 1000, 3),
                        "client": client[0] if client else None,
                    },
                )
