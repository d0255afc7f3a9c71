"""`/`, `/ping`, `/health`, `/stats`, `/metrics`: what an operator or a newcomer looks at."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from serving.catalog import LANDING, LEDGER, Catalog
from serving.core.errors import ErrorEnvelope
from serving.core.observability import metrics_response
from serving.db.base import DatabaseUnavailable, QueryTimeout
from serving.deps import ContextDep
from serving.responses import json_response
from serving.schemas import HealthAnswer, StatsAnswer

router = APIRouter(tags=["operations"])
NO_STORE = {"Cache-Control": "no-store"}

# Every endpoint: those a plain GET answers, those with a path parameter (as URI templates), and
# the push endpoints (POST, with an `X-API-Key`).
LINKS = {
    "self": "/",
    "docs": "/docs",
    "redoc": "/redoc",
    "openapi": "/openapi.json",
    "data": "/data",
    "users": "/users",
    "posts": "/posts",
    "countries": "/countries",
    "sales_orders": "/sales/orders",
    "sales_daily": "/sales/daily",
    "sales_rejects": "/sales/rejects",
    "logs": "/logs",
    "log_levels": "/logs/levels",
    "tables": "/tables",
    "health": "/health",
    "ping": "/ping",
    "stats": "/stats",
    "metrics": "/metrics",
}
TEMPLATES = {
    "user": "/users/{email}",
    "country": "/countries/{code}",
    "table": "/tables/{name}",
}
PUSH = {
    "ingest_logs": "/ingest/logs",
    "create_user": "/users",
}


@router.get("/", summary="Links to every endpoint")
async def root() -> dict[str, Any]:
    """`links`: what a GET answers as it is; `templates`: with a path parameter to fill in;
    `push`: the write endpoints (POST, with an `X-API-Key`)."""
    return {
        "name": "dataplatform serving API",
        "links": LINKS,
        "templates": TEMPLATES,
        "push": PUSH,
    }


@router.get("/ping", summary="Liveness (no database)")
async def ping() -> Response:
    """Answers at once without touching the database: the process is alive."""
    return Response(b'{"ok":true}', media_type="application/json", headers=NO_STORE)


def _age(last_write: str | None, now: dt.datetime) -> float | None:
    if not last_write:
        return None
    return (now - dt.datetime.fromisoformat(last_write)).total_seconds()


def _freshness(last_write: str | None, state: str, now: dt.datetime) -> dict[str, Any]:
    age = _age(last_write, now)
    return {
        "last_write": last_write,
        "age_s": None if age is None else round(age, 3),
        "stale": state in ("stale", "not written"),
        "state": state,
    }


def _message(tables: dict[str, dict[str, Any]], last_run: Any, pushed: int, limit: int) -> str:
    """The health of the warehouse in a sentence."""
    by_state: dict[str, list[str]] = {}
    for name, table in tables.items():
        by_state.setdefault(table["state"], []).append(name)
    written = [
        t["last_write"]
        for name, t in tables.items()
        if t["state"] in ("fresh", "stale") and name != LEDGER
    ]
    if not written:
        parts = [
            "the warehouse answers, but no pipeline run has written it yet: its tables fill on "
            "the first materialization of the assets"
        ]
        if pushed:
            parts.append(f"{pushed} pushed record(s) wait in the landing tables")
        return "; ".join(parts)
    parts = [f"{len(written)} table(s) written by the pipeline, the last at {max(written)}"]
    stale = by_state.get("stale")
    parts.append(
        f"stale (no write for over {limit} s): {', '.join(stale)}" if stale else "none stale"
    )
    if missing := by_state.get("not written"):
        parts.append(f"not written by any run yet: {', '.join(missing)}")
    if last_run is None:
        parts.append("no run recorded in pipeline_runs yet")
    return "; ".join(parts)


@router.get(
    "/health",
    response_model=HealthAnswer,
    summary="Database ping, last run, freshness",
    responses={503: {"model": HealthAnswer, "description": "The warehouse is unreachable."}},
)
async def health(request: Request, ctx: ContextDep) -> Response:
    """A real round trip to the warehouse, the last pipeline run and each table's last write,
    with a `message` saying it in a sentence. `status` is `empty` (still a 200: the push
    endpoints work) until a run has written a table; a table is `stale` after
    `SERVING_FRESHNESS_MAX_AGE_S` without a write, `not written` while no run has written it. 503
    when the warehouse is unreachable."""
    started = time.perf_counter()
    database: dict[str, Any] = {"ok": True, "engine": ctx.db.engine}
    try:
        await ctx.db.ping()
        database["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
    except (DatabaseUnavailable, QueryTimeout) as exc:
        database.update(ok=False, error=str(exc)[:300] or type(exc).__name__)
        body = {
            "status": "unavailable",
            "message": f"the warehouse cannot be reached: {database['error']}",
            "database": database,
            "last_run": None,
            "tables": {},
        }
        return json_response(body, NO_STORE, status=503)
    snap = await ctx.catalog.refresh()
    now = dt.datetime.now(dt.UTC)
    limit = ctx.settings.freshness_max_age_s
    tables, pushed = {}, 0
    for name in ctx.catalog.contract_tables(snap):
        if name in LANDING:
            appended = await ctx.catalog.appended(name)
            pushed += appended.rows
            tables[name] = _freshness(appended.last_write, "push", now)
            continue
        last = Catalog.last_write(snap, name)
        age = _age(last, now)
        state = "not written" if age is None else "stale" if age > limit else "fresh"
        tables[name] = _freshness(last, state, now)
    last_run = await request.app.state.runs.last_run(snap.tables)
    body = {
        "status": "ok" if snap.ledger else "empty",
        "message": _message(tables, last_run, pushed, limit),
        "database": database,
        "last_run": last_run,
        "tables": tables,
    }
    return json_response(body, NO_STORE)


@router.get(
    "/stats",
    response_model=StatsAnswer,
    summary="Pipeline run statistics",
    responses={503: {"model": ErrorEnvelope}},
)
async def stats(request: Request, ctx: ContextDep) -> Response:
    """Total records processed, total duration, last success, last failure and its reason, run
    count: from `pipeline_runs` (zeros and nulls until the platform writes it)."""
    snap = await ctx.catalog.current()
    body = await request.app.state.runs.stats(snap.tables)
    return json_response(body, NO_STORE)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Requests, latencies, database statements and table freshness, in Prometheus text."""
    return metrics_response(request.app)
