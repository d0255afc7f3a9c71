"""SQLite: a small pool of read-only connections, each owned by one worker thread.

Statements run on a dedicated thread pool whose threads each keep one `file:...?mode=ro`
connection with `PRAGMA query_only`. The time limit is a progress handler that aborts the
statement past its deadline.

Handing a statement to a thread costs more than a short one takes to run, so a statement runs
first on the event loop's own connection under a small budget, and goes to the pool under the
full limit only if it runs past it (or finds the file busy). What a statement is (`Work`), as the
code that built it knows, sets the budget: a page along an index gets the larger one; a
full-text search skips the attempt and runs in the pool, beside the loop instead of holding it.
docs/decisions/serving-read-path.md has the measurements behind these choices.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote as url_quote

from core.contracts import Column, Contract
from core.sql import fts_table, quote
from serving.db.base import Database, DatabaseUnavailable, QueryTimeout, Row, Work

PROGRESS_STEPS = 1000
# The budget of a statement's attempt on the event loop, by what it is; None: no attempt.
INLINE_BUDGET_MS: dict[Work, int | None] = {Work.RANGE: 5, Work.SCAN: 2, Work.SEARCH: None}
# The loop's connection waits no longer than the largest budget for a busy file.
LOOP_BUSY_TIMEOUT_MS = 5
MISSING = "the warehouse file {} does not exist: a pipeline run or a push creates it"


def sqlite_path(url: str) -> Path:
    """The file of a `sqlite:///relative` or `sqlite:////absolute` URL (as the writer reads it)."""
    path = url.split(":///", 1)[1] if ":///" in url else url.removeprefix("sqlite:")
    return Path(path or "data/warehouse.db")


class _Conn:
    """One read-only connection with a deadline checked by its progress handler."""

    def __init__(self, path: Path, busy_timeout_ms: int) -> None:
        uri = f"file:{url_quote(str(path.absolute()))}?mode=ro"
        try:
            self.conn = sqlite3.connect(
                uri, uri=True, check_same_thread=False, isolation_level=None, timeout=5.0
            )
            self.conn.execute("PRAGMA query_only = 1")
            self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"cannot open {path}: {exc}") from None
        self.deadline = 0.0
        self.conn.set_progress_handler(self._tick, PROGRESS_STEPS)

    def _tick(self) -> int:
        return 1 if self.deadline and time.monotonic() > self.deadline else 0

    def run(self, sql: str, params: Sequence[Any], timeout_ms: int) -> list[Row]:
        self.deadline = time.monotonic() + timeout_ms / 1000
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise _translate(exc) from None
        finally:
            self.deadline = 0.0

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _translate(exc: sqlite3.OperationalError) -> Exception:
    text = str(exc)
    if text == "interrupted":
        return QueryTimeout("the query ran past its time limit")
    if "unable to open" in text or "disk I/O" in text or "no such table" in text:
        return DatabaseUnavailable(text)
    return exc


class SQLiteDatabase(Database):
    engine = "sqlite"
    placeholder = "?"

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.path = sqlite_path(url)
        self._local = threading.local()
        self._executor: ThreadPoolExecutor | None = None
        self._generation = 0
        # The file's identity when last looked at: the pooled connections read that file.
        self._file = _stat(self.path)
        self._all: list[_Conn] = []
        self._lock = threading.Lock()

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(self.pool_size, thread_name_prefix="sqlite-ro")

    async def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()

    # -- the per-thread connection ----------------------------------------------------------
    def _conn(self, busy_timeout_ms: int | None = None) -> _Conn:
        conn: _Conn | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.generation == self._generation:
            return conn
        if conn is not None:
            conn.close()
        if not self.path.exists():
            raise DatabaseUnavailable(MISSING.format(self.path))
        conn = _Conn(self.path, busy_timeout_ms or self.query_timeout_ms)
        self._local.conn, self._local.generation = conn, self._generation
        with self._lock:
            self._all.append(conn)
        return conn

    def _check_file(self) -> None:
        """A warehouse file replaced or deleted under us: every pooled connection (each
        thread's, and the event loop's) is reopened on its next statement."""
        current = _stat(self.path)
        if current != self._file:
            self._file = current
            self._generation += 1
        if current is None:
            raise DatabaseUnavailable(MISSING.format(self.path))

    async def _run(self, fn: Callable[[], Any]) -> Any:
        if self._executor is None:
            await self.open()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn)

    async def fetch(
        self,
        sql: str,
        params: Sequence[Any] = (),
        *,
        kind: str = "data",
        work: Work = Work.SCAN,
    ) -> list[Row]:
        self.queries[kind] += 1
        budget = INLINE_BUDGET_MS[work]
        if self._executor is not None and budget is not None:
            try:
                return self._conn(LOOP_BUSY_TIMEOUT_MS).run(sql, params, budget)
            except (QueryTimeout, sqlite3.OperationalError):
                pass  # past the budget, or the file is busy: the pool, under the full limit
        timeout = self.query_timeout_ms
        return await self._run(lambda: self._conn().run(sql, params, timeout))

    async def stream(
        self, sql: str, params: Sequence[Any], *, timeout_ms: int, batch: int = 2000
    ) -> AsyncIterator[list[Row]]:
        self.queries["export"] += 1
        # A connection of the stream's own: pooled ones belong to their threads.
        conn = await asyncio.to_thread(_Conn, self.path, self.query_timeout_ms)
        try:
            conn.deadline = time.monotonic() + timeout_ms / 1000
            cur = await asyncio.to_thread(conn.conn.execute, sql, params)
            while True:
                try:
                    rows = await asyncio.to_thread(cur.fetchmany, batch)
                except sqlite3.OperationalError as exc:
                    raise _translate(exc) from None
                if not rows:
                    break
                yield rows
        except sqlite3.OperationalError as exc:
            raise _translate(exc) from None
        finally:
            conn.close()

    async def ping(self) -> None:
        self.queries["ping"] += 1

        def ping() -> None:
            self._check_file()
            # A fresh connection proves the file opens now, not when the pool was filled.
            conn = _Conn(self.path, self.query_timeout_ms)
            try:
                conn.run("SELECT count(*) FROM sqlite_master", (), self.query_timeout_ms)
            finally:
                conn.close()

        await self._run(ping)

    async def existing_tables(self) -> set[str]:
        def tables() -> list[Row]:
            self._check_file()
            return self._conn().run(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')",
                (),
                self.query_timeout_ms,
            )

        self.queries["catalog"] += 1
        return {r[0] for r in await self._run(tables)}

    async def table_columns(self, table: str) -> list[str]:
        rows = await self.fetch(f"PRAGMA table_info({quote(table)})", kind="catalog")
        return [r[1] for r in rows]

    # -- dialect ----------------------------------------------------------------------------
    def select_expr(self, col: Column) -> str:
        if col.type == "timestamp":
            # Stored as `YYYY-MM-DD HH:MM:SS.ffffffZ`; served as ISO 8601.
            return f"replace({quote(col.name)}, ' ', 'T')"
        return quote(col.name)

    def converter(self, col: Column) -> Callable[[Any], Any] | None:
        if col.type == "bool":
            return lambda v: None if v is None else bool(v)
        return super().converter(col)

    def bind(self, col: Column, value: Any) -> Any:
        if value is None:
            return None
        if col.type == "date":
            return value.isoformat()
        if col.type == "timestamp":
            from core.sql import timestamp_text

            return timestamp_text(value)
        if col.type == "bool":
            return int(value)
        return value

    def timestamp_text(self, expr: str) -> str:
        return f"replace({expr}, ' ', 'T')"

    def contains(self, expr: str) -> str:
        return f"instr({expr}, ?) > 0"

    def search(self, contract: Contract) -> str:
        fts = quote(fts_table(contract))
        return f"{quote(contract.name)}.rowid IN (SELECT rowid FROM {fts} WHERE {fts} MATCH ?)"

    def search_param(self, text: str) -> str | None:
        # Every word becomes an FTS5 string token: no operator or column filter can be injected.
        tokens = ['"' + word.replace('"', '""') + '"' for word in text.split()]
        return " ".join(tokens) or None

    def order_term(self, col: Column, desc: bool, driven: bool = False) -> str:
        # A unary + keeps SQLite from walking an index in this order (`driven` by a search).
        term = f"{'+' if driven else ''}{quote(col.name)} {'DESC' if desc else 'ASC'}"
        if col.nullable:
            term += " NULLS FIRST" if desc else " NULLS LAST"
        return term

    def currency_token(self, expr: str) -> str:
        return f"instr(',' || replace({expr}, ' ', '') || ',', ',' || ? || ',') > 0"

    def json_array_has(self, expr: str) -> str:
        return (
            f"EXISTS (SELECT 1 FROM json_each({expr}) WHERE json_extract(value, '$.code') = ? "
            "OR lower(json_extract(value, '$.name')) = lower(?))"
        )
