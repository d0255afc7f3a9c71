"""PostgreSQL: psycopg 3 with an `AsyncConnectionPool` of read-only sessions.

Every session starts with `default_transaction_read_only = on`, a `statement_timeout` and UTC;
statements run in autocommit, so psycopg prepares the hot ones after a few executions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import psycopg
import psycopg.errors
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from core.contracts import Column, Contract
from core.sql import quote, search_vector
from serving.db.base import Database, DatabaseUnavailable, QueryTimeout, Row, Work


def _dsn(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgres") else url


def connection_pool(
    url: str,
    *,
    name: str,
    options: str,
    max_size: int,
    timeout_ms: int,
    autocommit: bool,
    prepare_threshold: int | None = 5,
) -> AsyncConnectionPool:
    """A psycopg pool that opens lazily and never fails the app's start because Postgres is
    down: a broken connection is discarded on return, and reconnects back off up to 5 s."""
    return AsyncConnectionPool(
        _dsn(url),
        min_size=1,
        max_size=max_size,
        kwargs={
            "autocommit": autocommit,
            "options": options,
            "connect_timeout": 3,
            "prepare_threshold": prepare_threshold,
        },
        open=False,
        timeout=timeout_ms / 1000,
        reconnect_timeout=0,
        max_idle=300,
        name=name,
    )


def _translate(exc: Exception) -> Exception:
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return QueryTimeout("the query ran past its time limit")
    if isinstance(exc, PoolTimeout | psycopg.OperationalError):
        return DatabaseUnavailable(str(exc).strip() or type(exc).__name__)
    return exc


class LazyPool:
    """Opens its psycopg `pool` on first use, once, and closes it once."""

    pool: AsyncConnectionPool
    _opened = False

    async def open(self) -> None:
        if not self._opened:
            # wait=False: the API starts (and /health answers 503) while Postgres is down.
            await self.pool.open(wait=False)
            self._opened = True

    async def close(self) -> None:
        if self._opened:
            await self.pool.close()
            self._opened = False


class PostgresDatabase(LazyPool, Database):
    engine = "postgresql"
    placeholder = "%s"

    def __init__(self, url: str, *, prepare_threshold: int | None = 5, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        options = (
            "-c default_transaction_read_only=on "
            f"-c statement_timeout={int(self.query_timeout_ms)} -c TimeZone=UTC "
            "-c application_name=dataplatform-serving"
        )
        self.pool = connection_pool(
            url,
            name="serving",
            options=options,
            max_size=self.pool_size,
            timeout_ms=self.pool_timeout_ms,
            autocommit=True,
            prepare_threshold=prepare_threshold,
        )

    async def fetch(
        self,
        sql: str,
        params: Sequence[Any] = (),
        *,
        kind: str = "data",
        work: Work = Work.SCAN,
    ) -> list[Row]:
        self.queries[kind] += 1
        if not self._opened:
            await self.open()
        try:
            async with self.pool.connection() as conn:
                cur = await conn.execute(sql, params)
                return await cur.fetchall()
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise _translate(exc) from None

    async def stream(
        self, sql: str, params: Sequence[Any], *, timeout_ms: int, batch: int = 2000
    ) -> AsyncIterator[list[Row]]:
        self.queries["export"] += 1
        if not self._opened:
            await self.open()
        try:
            async with self.pool.connection() as conn, conn.transaction():
                await conn.execute(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
                async with conn.cursor(name="serving_export") as cur:
                    await cur.execute(sql, params)
                    while rows := await cur.fetchmany(batch):
                        yield rows
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise _translate(exc) from None

    async def ping(self) -> None:
        # A stale pooled connection (server restarted) fails once; the retry gets a new one.
        for attempt in (1, 2):
            try:
                await self.fetch("SELECT 1", kind="ping")
                return
            except DatabaseUnavailable:
                if attempt == 2:
                    raise

    async def existing_tables(self) -> set[str]:
        rows = await self.fetch(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema()",
            kind="catalog",
        )
        return {r[0] for r in rows}

    async def table_columns(self, table: str) -> list[str]:
        rows = await self.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
            [table],
            kind="catalog",
        )
        return [r[0] for r in rows]

    # -- dialect ----------------------------------------------------------------------------
    def select_expr(self, col: Column) -> str:
        name = quote(col.name)
        if col.type == "timestamp":
            return self.timestamp_text(name)
        if col.type == "date":
            return f"to_char({name}, 'YYYY-MM-DD')"
        if col.type == "json":
            return f"CAST({name} AS TEXT)"
        return name

    def bind(self, col: Column, value: Any) -> Any:
        return value

    def timestamp_text(self, expr: str) -> str:
        return f"to_char({expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

    def contains(self, expr: str) -> str:
        return f"strpos(CAST({expr} AS TEXT), %s) > 0"

    def search(self, contract: Contract) -> str:
        # Verbatim the expression of the GIN index, so the planner can use it.
        return f"{search_vector(contract)} @@ websearch_to_tsquery('simple', %s)"

    def search_param(self, text: str) -> str | None:
        return text if text.strip() else None

    def order_term(self, col: Column, desc: bool, driven: bool = False) -> str:
        # PostgreSQL's defaults already put NULL last ascending and first descending.
        return f"{quote(col.name)} {'DESC' if desc else 'ASC'}"

    def currency_token(self, expr: str) -> str:
        return f"strpos(',' || replace({expr}, ' ', '') || ',', ',' || %s || ',') > 0"

    def json_array_has(self, expr: str) -> str:
        return (
            f"EXISTS (SELECT 1 FROM jsonb_array_elements({expr}) AS e(v) "
            "WHERE v->>'code' = %s OR lower(v->>'name') = lower(%s))"
        )
