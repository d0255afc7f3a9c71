"""The landing store on SQLite: one writer thread with one read-write connection, since SQLite
has one writer at a time; `BEGIN IMMEDIATE` takes the write lock that orders the landing ids."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from core.contracts.datasets import LANDING_LOGS, LANDING_USERS
from core.sql import timestamp_text
from serving.db.base import DatabaseUnavailable
from serving.db.sqlite import sqlite_path
from serving.ingest.models import landing_rows
from serving.ingest.store.answers import DuplicateEmail, Stored, WarehouseBusy
from serving.ingest.store.groups import LandingStore, Pending, plan_group
from serving.ingest.store.statements import SQLITE, USER_COLUMNS, create_statements


class SQLiteLandingStore(LandingStore):
    """One writer thread with one read-write connection: SQLite has one writer at a time."""

    def __init__(self, url: str, write_timeout_ms: int) -> None:
        super().__init__(url, write_timeout_ms)
        self.path = sqlite_path(url)
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite-rw")

    async def close(self) -> None:
        if self._executor is not None:
            await self._run(self._close_conn)
            self._executor.shutdown(wait=True)
            self._executor = None

    def _close_conn(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _run(self, fn: Callable[[], Any]) -> Any:
        await self.open()
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(
                    self.path, timeout=self.write_timeout_ms / 1000, isolation_level=None
                )
                conn.execute("PRAGMA journal_mode=WAL")
                # An answered 201 must survive an OS crash too: sync the WAL on every commit.
                conn.execute("PRAGMA synchronous=FULL")
            except sqlite3.Error as exc:
                raise DatabaseUnavailable(f"cannot open {self.path}: {exc}") from None
            self._conn = conn
        if not self._ready:
            for stmt in create_statements(self.url):
                self._conn.execute(stmt)
            self._ready = True
        return self._conn

    def _transaction(self, body: Callable[[sqlite3.Connection], Any]) -> Any:
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise WarehouseBusy(str(exc)) from None
            raise DatabaseUnavailable(str(exc)) from None
        try:
            result = body(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    _batch = staticmethod(landing_rows)

    async def _append_group(self, group: Sequence[Pending]) -> list[Stored | Exception]:
        keys = [p.idem.key for p in group if p.idem is not None]

        def write(conn: sqlite3.Connection) -> list[Stored | Exception]:
            known = (
                {r[0]: r[1:] for r in conn.execute(SQLITE.known(len(keys)), keys)} if keys else {}
            )
            first = conn.execute(SQLITE.next_id(LANDING_LOGS.name)).fetchone()[0]
            now = timestamp_text(dt.datetime.now(dt.UTC))
            answers, stored, records = plan_group(group, known, first, now)
            conn.executemany(
                SQLITE.insert_logs,
                ((at + i, now, *row) for at, p in stored for i, row in enumerate(p.batch)),
            )
            conn.executemany(SQLITE.record, records)
            return answers

        return await self._run(lambda: self._transaction(write))

    async def add_user(self, user: dict[str, Any]) -> dict[str, Any]:
        def write(conn: sqlite3.Connection) -> dict[str, Any]:
            for check in SQLITE.email_taken:
                if conn.execute(check, (user["email"],)).fetchone():
                    raise DuplicateEmail(user["email"])
            first = conn.execute(SQLITE.next_id(LANDING_USERS.name)).fetchone()[0]
            row = {"id": first, "received_at": dt.datetime.now(dt.UTC), **user}
            values = [row[c] for c in USER_COLUMNS]
            values[1] = timestamp_text(values[1])
            conn.execute(SQLITE.insert_user, values)
            return row

        return await self._run(lambda: self._transaction(write))
