"""The landing store on PostgreSQL: a pool of read-write sessions; a transaction takes the
table's advisory lock, which orders the landing ids, and log rows go in through
`PG_INSERT_BATCH`."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
import psycopg.errors
from psycopg_pool import PoolTimeout

from core.contracts.datasets import LANDING_LOGS, LANDING_USERS
from core.sql import quote, timestamp_text
from serving.db.base import DatabaseUnavailable, iso_timestamp
from serving.db.postgres import LazyPool, connection_pool
from serving.ingest.models import LOG_BATCH, LogRecordIn
from serving.ingest.store.answers import DuplicateEmail, Stored, WarehouseBusy
from serving.ingest.store.groups import LandingStore, Pending, plan_group
from serving.ingest.store.statements import (
    PG_INSERT_BATCH,
    POSTGRES,
    USER_COLUMNS,
    create_statements,
    lock_id,
)


class PostgresLandingStore(LazyPool, LandingStore):
    """A pool of read-write sessions; rows go in through `PG_INSERT_BATCH` under an advisory
    lock."""

    def __init__(
        self, url: str, write_timeout_ms: int, pool_size: int, prepare_threshold: int | None
    ) -> None:
        super().__init__(url, write_timeout_ms)
        options = (
            f"-c statement_timeout={int(write_timeout_ms)} -c TimeZone=UTC "
            "-c application_name=dataplatform-ingest"
        )
        self.pool = connection_pool(
            url,
            name="ingest",
            options=options,
            max_size=pool_size,
            timeout_ms=write_timeout_ms,
            autocommit=False,
            prepare_threshold=prepare_threshold,
        )
        self._ddl_lock = asyncio.Lock()

    async def _transaction(self, lock_table: str, body: Callable[[Any], Any]) -> Any:
        await self.open()
        try:
            if not self._ready:
                async with self._ddl_lock, self.pool.connection() as conn:
                    if not self._ready:
                        # Serialized across processes: concurrent CREATE IF NOT EXISTS can clash.
                        await conn.execute("SELECT pg_advisory_xact_lock(%s)", [lock_id("ddl")])
                        for stmt in create_statements(self.url):
                            await conn.execute(stmt)
                        self._ready = True
            # In a pipeline, statements go out without waiting for each other's results: a
            # transaction waits on the event loop once per result it reads, not per statement,
            # and the loop may be busy validating other requests for milliseconds at a time.
            async with self.pool.connection() as conn, conn.pipeline(), conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", [lock_id(lock_table)])
                return await body(conn)
        except psycopg.errors.QueryCanceled as exc:
            raise WarehouseBusy(str(exc)) from None
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise DatabaseUnavailable(str(exc).strip() or type(exc).__name__) from None

    @staticmethod
    def _batch(records: list[LogRecordIn]) -> str:
        return LOG_BATCH.dump_json(records).decode()

    async def _append_group(self, group: Sequence[Pending]) -> list[Stored | Exception]:
        keys = [p.idem.key for p in group if p.idem is not None]

        async def write(conn: Any) -> list[Stored | Exception]:
            # Two round trips: the lock, the stored keys and the next id; then the rows, the
            # keys' answers and the commit.
            stored_keys = await conn.execute(POSTGRES.known(len(keys)), keys) if keys else None
            cur = await conn.execute(POSTGRES.next_id(LANDING_LOGS.name))
            first = (await cur.fetchone())[0]
            known = {r[0]: r[1:] for r in await stored_keys.fetchall()} if stored_keys else {}
            now = timestamp_text(dt.datetime.now(dt.UTC))
            answers, stored, records = plan_group(group, known, first, now)
            if stored:
                await conn.cursor().executemany(
                    PG_INSERT_BATCH, [(at, now, p.batch) for at, p in stored]
                )
            if records:
                await conn.cursor().executemany(POSTGRES.record, records)
            return answers

        return await self._transaction(LANDING_LOGS.name, write)

    async def add_user(self, user: dict[str, Any]) -> dict[str, Any]:
        async def write(conn: Any) -> dict[str, Any]:
            for check in POSTGRES.email_taken:
                if await (await conn.execute(check, [user["email"]])).fetchone():
                    raise DuplicateEmail(user["email"])
            cur = await conn.execute(POSTGRES.next_id(LANDING_USERS.name))
            row = {"id": (await cur.fetchone())[0], "received_at": dt.datetime.now(dt.UTC), **user}
            await conn.execute(POSTGRES.insert_user, [row[c] for c in USER_COLUMNS])
            return row

        return await self._transaction(LANDING_USERS.name, write)

    async def pushed_user(self, email: str) -> dict[str, Any] | None:
        await self.open()
        columns = ", ".join(map(quote, USER_COLUMNS))
        try:
            async with self.pool.connection() as conn:
                cur = await conn.execute(
                    f"SELECT {columns} FROM landing_users WHERE email = %s", [email]
                )
                row = await cur.fetchone()
                await conn.rollback()
        except psycopg.errors.UndefinedTable:
            return None
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise DatabaseUnavailable(str(exc).strip() or type(exc).__name__) from None
        return None if row is None else {c: _iso(v) for c, v in zip(USER_COLUMNS, row, strict=True)}


def _iso(value: Any) -> Any:
    return iso_timestamp(value) if isinstance(value, dt.datetime) else value
