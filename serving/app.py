"""The serving API's app factory: `create_app(settings)`, and the module-level `app`.

`uvicorn serving.app:app` or `python -m serving` serves it. Nothing here imports Dagster: the
API reads what the assets wrote through `core.contracts` and the warehouse tables.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from serving.cache import open_cache
from serving.catalog import Catalog
from serving.core.config import Settings, get_settings
from serving.core.errors import ErrorEnvelope, install_error_handlers
from serving.core.observability import AppCollector, Metrics, ObservabilityMiddleware
from serving.core.security import KeyGate, KeyRing
from serving.db import DatabaseUnavailable, QueryTimeout, open_database
from serving.deps import Context
from serving.docs_ui import install_docs
from serving.ingest.store import open_store
from serving.routes import countries, data, ingest, logs, ops, sales, tables, users
from serving.runs import RunsReader

log = logging.getLogger("serving")

DESCRIPTION = """
REST over the platform's materialized tables (SQLite or PostgreSQL), read-only but for the
push endpoints (`POST /ingest/logs`, `POST /users`), which need an `X-API-Key`.

* **Pagination**: cursor mode (`limit`, then `cursor` = the previous answer's `next`) is as fast
  at any depth as on the first page; page mode (`page`, `page_size`) is kept for the source
  documents' clients, up to `SERVING_MAX_PAGE_DEPTH` rows deep.
* **Filters**: `column__op=value` on any column of the table, op one of `eq` (default), `ne`,
  `gt`, `gte`, `lt`, `lte`, `in` (comma-separated), `contains`, `isnull`; `sort=column` or
  `sort=-column`; `search` for full-text search where the table has it.
* **Counts** are exact for whole tables (computed once per write) and capped for filtered ones.
* **Caching**: every data answer has an `ETag` from the table's last write; send it back in
  `If-None-Match` for a `304`.
* **CSV**: `format=csv` or `Accept: text/csv` streams the rows.
* **Errors**: `{"error": {"status", "code", "message", "details"}}`; 4xx for anything the client
  can fix, 503 when the warehouse is unreachable or a query runs past its time limit.
"""


# What KeyGate may answer on any path, before the route: documented on every operation.
GATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorEnvelope,
        "description": "No valid `X-API-Key` (reads too when `SERVING_READ_REQUIRES_KEY` is on).",
    },
    429: {"model": ErrorEnvelope, "description": "The key is over its rate limit (`Retry-After`)."},
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    db = open_database(settings)
    catalog = Catalog(db, settings.version_refresh_ms)
    store = open_store(
        settings.write_url or settings.warehouse_url,
        write_timeout_ms=settings.write_timeout_ms,
        pool_size=settings.pool_size,
        prepare_threshold=settings.pg_prepare_threshold,
    )
    cache = open_cache(settings.redis_url, settings.user_cache_ttl_s, settings.user_cache_size)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await db.open()
        await store.open()
        try:
            await catalog.refresh()
        except (DatabaseUnavailable, QueryTimeout) as exc:
            log.warning("warehouse not reachable at startup: %s", exc)
        log.info("serving %s warehouse", db.engine)
        try:
            yield
        finally:
            await store.close()
            await cache.close()
            await db.close()
            log.info("database pool closed")

    app = FastAPI(
        title="Data platform API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=GATE_RESPONSES,
        # Served by install_docs from local assets: FastAPI's own pages load them from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    keys = KeyRing(settings.api_keys)
    app.state.ctx = Context(
        settings, db, catalog, settings.cursor_secret.encode(), store, cache, keys
    )
    app.state.runs = RunsReader(db)
    app.state.metrics = metrics = Metrics()
    metrics.registry.register(AppCollector(app))
    install_error_handlers(app)
    install_docs(app)
    for module in (ops, users, countries, tables, ingest):
        app.include_router(module.router)
    # The list endpoints, most of the traffic, go ahead of every other route (see
    # serving/list_endpoints.py).
    for module in (logs, sales, countries, users, data):
        module.lists.add_to(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "HEAD", "OPTIONS", "POST"],
            allow_headers=["*"],
            expose_headers=["ETag", "Link", "X-Request-ID"],
            max_age=600,
        )
    app.add_middleware(
        KeyGate,
        keys=keys,
        read_requires_key=settings.read_requires_key,
        rate=settings.rate_limit_per_s,
        burst=settings.rate_limit_burst,
    )
    app.add_middleware(ObservabilityMiddleware, metrics=metrics, log_requests=settings.access_log)
    return app


app = create_app()
