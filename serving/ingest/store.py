"""The write side of the API: pushed records appended to the landing tables, all or nothing.

Landing ids are taken as `max(id) + 1...` while the writer holds the table's lock (SQLite's
write lock, a PostgreSQL advisory lock), so ids grow in commit order: a reader that sees id N
also sees every id below it, which is what lets the landing sensor use the id as a
high-water mark without ever skipping a late commit. An `Idempotency-Key` is checked and its
answer recorded under the same lock, in the same transaction as the rows.

Log batches commit in groups: the batches that arrive while a write is in flight go together
in the next transaction, with one lock, one pipeline of inserts and one commit (one fsync) for
all of them. Each batch still gets its own contiguous ids and its own answer; a group that fails
fails each of its batches, and stores none of them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
import psycopg.errors
from psycopg_pool import PoolTimeout

from core.contracts import Contract
from core.contracts.datasets import INGEST_REQUESTS, LANDING_LOGS, LANDING_USERS, USERS
from core.sql import dialect_for, quote, timestamp_text
from serving.db.base import DatabaseUnavailable, iso_timestamp
from serving.db.postgres import connection_pool
from serving.db.sqlite import sqlite_path
from serving.ingest.models import LOG_BATCH, SEVERITY_ALIASES, LogRecordIn, landing_rows

LOG_COLUMNS = LANDING_LOGS.column_names
USER_COLUMNS = LANDING_USERS.column_names


class WarehouseBusy(Exception):
    """The write waited past its time limit for the table's lock."""


class DuplicateEmail(Exception):
    """A user with this email exists already (pushed or from the REST API)."""


class IdempotencyMismatch(Exception):
    """The Idempotency-Key was used before with a different request body."""


@dataclass(frozen=True)
class Idempotency:
    """A request's `Idempotency-Key`, scoped to its API key, and its body's digest."""

    key: str
    request_hash: str

    @classmethod
    def of(cls, api_key: str, header: str, body: bytes) -> Idempotency:
        scope = hashlib.blake2b(f"{api_key}\0{header}".encode(), digest_size=16).hexdigest()
        return cls(scope, hashlib.blake2b(body, digest_size=16).hexdigest())


@dataclass(frozen=True)
class Stored:
    """The answer to a write: fresh, or replayed from an earlier request with the same key."""

    status: int
    body: bytes
    replayed: bool = False


def _lock_id(table: str) -> int:
    """A stable 64-bit advisory-lock id per landing table."""
    digest = hashlib.blake2b(table.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _batch_answer(first: int, count: int) -> bytes:
    return orjson.dumps({"count": count, "ids": list(range(first, first + count))})


# One transaction holds at most this many records (a group of batches).
GROUP_MAX_ROWS = 50_000


@dataclass
class _Pending:
    """A log batch waiting for its group's transaction, in the form its engine stores."""

    batch: Any  # landing rows (SQLite) or the records as JSON text (PostgreSQL)
    count: int
    idem: Idempotency | None
    answer: asyncio.Future[Stored]


def plan_group(
    group: Sequence[_Pending], known: dict[str, tuple[Any, ...]], first: int, now: str
) -> tuple[list[Stored | Exception], list[tuple[int, _Pending]], list[tuple[Any, ...]]]:
    """Each batch's answer, the batches to store with their first landing id, and the
    idempotency records to keep.

    `known` maps the group's idempotency keys already stored to (request hash, status, body);
    a key seen twice in one group answers the second time as a replay of the first.
    """
    answers: list[Stored | Exception] = []
    stored: list[tuple[int, _Pending]] = []
    records: list[tuple[Any, ...]] = []
    for pending in group:
        idem = pending.idem
        if idem is not None and idem.key in known:
            request_hash, status, body = known[idem.key]
            if request_hash != idem.request_hash:
                answers.append(IdempotencyMismatch())
            else:
                answers.append(Stored(int(status), str(body).encode(), replayed=True))
            continue
        stored.append((first, pending))
        answer = Stored(201, _batch_answer(first, pending.count))
        first += pending.count
        if idem is not None:
            body = answer.body.decode()
            known[idem.key] = (idem.request_hash, answer.status, body)
            records.append((idem.key, idem.request_hash, answer.status, body, now))
        answers.append(answer)
    return answers, stored, records


class _Sql:
    """The write path's statements, in one engine's parameter style."""

    def __init__(self, p: str) -> None:
        self.p = p
        self.record = (
            "INSERT INTO ingest_requests (key, request_hash, status, body, created_at) "
            f"VALUES ({p}, {p}, {p}, {p}, {p})"
        )
        self.insert_user = (
            f"INSERT INTO landing_users ({', '.join(map(quote, USER_COLUMNS))}) "
            f"VALUES ({', '.join([p] * len(USER_COLUMNS))})"
        )
        self.insert_logs = (
            f"INSERT INTO landing_logs ({', '.join(map(quote, LOG_COLUMNS))}) "
            f"VALUES ({', '.join([p] * len(LOG_COLUMNS))})"
        )
        # Pushed users first, then the REST API's (the store creates both tables).
        self.email_taken = [
            f"SELECT 1 FROM {t} WHERE email = {p}" for t in ("landing_users", "users")
        ]

    @staticmethod
    def next_id(table: str) -> str:
        return f"SELECT coalesce(max(id), 0) + 1 FROM {quote(table)}"

    def known(self, n: int) -> str:
        """The stored answers of `n` idempotency keys."""
        keys = ", ".join([self.p] * n)
        return f"SELECT key, request_hash, status, body FROM ingest_requests WHERE key IN ({keys})"


SQL, PG_SQL = _Sql("?"), _Sql("%s")

# A batch's records as pydantic serialized them (canonical ISO 8601 timestamps, severities
# upper-cased), made landing rows inside PostgreSQL: one JSON parse in C per batch, where a
# Python tuple and a COPY line per record cost more than the rest of the request.
_RECORD = {
    "timestamp": "timestamptz",  # naive means UTC: the session's TimeZone is UTC
    "service": "text",
    "severity": "text",
    "message": "text",
    "attributes": "text",  # the object's JSON text
    "event_id": "text",
}
_ALIASES = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in SEVERITY_ALIASES.items())
PG_INSERT_BATCH = (
    f"INSERT INTO landing_logs ({', '.join(map(quote, LOG_COLUMNS))}) "
    "SELECT %s::bigint + r.n - 1, %s::timestamptz, r.event_id, r.ts, "
    "to_char(r.ts, 'YYYY-MM-DD-HH24:00'), "  # `log_hour`'s partition key
    f"r.service, CASE r.severity {_ALIASES} ELSE r.severity END, r.message, r.attributes "
    "FROM ROWS FROM (json_to_recordset(%s::json) AS ("
    + ", ".join(f"{quote(k)} {t}" for k, t in _RECORD.items())
    + ")) WITH ORDINALITY AS r(ts, service, severity, message, attributes, event_id, n)"
)


class LandingStore(ABC):
    """Appends pushed records to `landing_logs` / `landing_users`; see `open_store`."""

    def __init__(self, url: str, write_timeout_ms: int) -> None:
        self.url = url
        self.write_timeout_ms = write_timeout_ms
        self._ddl = dialect_for(url)
        self._ready = False
        self._pending: list[_Pending] = []
        self._committer: asyncio.Task[None] | None = None

    def _create_statements(self) -> list[str]:
        # `users` too: a push checks its emails, and may come before the first materialization.
        contracts: Sequence[Contract] = (LANDING_LOGS, LANDING_USERS, INGEST_REQUESTS, USERS)
        return [s for c in contracts for s in self._ddl.create_statements(c)]

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    async def append_logs(self, records: list[LogRecordIn], idem: Idempotency | None) -> Stored:
        """Append validated log records (see `serving.ingest.models`) in the next group's
        transaction. Raises `IdempotencyMismatch`, `WarehouseBusy` and `DatabaseUnavailable`."""
        answer: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        # Converted before the batch queues, so that a group's lock is held for the writes only.
        self._pending.append(_Pending(self._batch(records), len(records), idem, answer))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_groups())
        return await answer

    async def _commit_groups(self) -> None:
        while self._pending:
            group, size = [], 0
            while self._pending and (not group or size + self._pending[0].count <= GROUP_MAX_ROWS):
                pending = self._pending.pop(0)
                if not pending.answer.done():  # a client that went away has nothing to store
                    group.append(pending)
                    size += pending.count
            if not group:
                continue
            try:
                answers = await self._append_group(group)
            except Exception as exc:
                answers = [exc] * len(group)
            except BaseException as exc:  # cancelled: no waiter may hang on its answer
                for pending in group:
                    if not pending.answer.done():
                        pending.answer.set_exception(DatabaseUnavailable("the write was cancelled"))
                raise exc
            for pending, answer in zip(group, answers, strict=True):
                if pending.answer.done():
                    continue
                if isinstance(answer, Exception):
                    pending.answer.set_exception(answer)
                else:
                    pending.answer.set_result(answer)

    @staticmethod
    @abstractmethod
    def _batch(records: list[LogRecordIn]) -> Any:
        """The records in the form this engine stores (see `_Pending.batch`)."""

    @abstractmethod
    async def _append_group(self, group: Sequence[_Pending]) -> list[Stored | Exception]:
        """One transaction for the group's batches; see `plan_group`."""

    @abstractmethod
    async def add_user(self, user: dict[str, Any]) -> dict[str, Any]:
        """Append one user; returns the landing row. Raises `DuplicateEmail`."""

    async def pushed_user(self, email: str) -> dict[str, Any] | None:
        """The `landing_users` row of `email`, read where it was written (for a replica's API).
        Only the PostgreSQL store reads: SQLite has no replicas."""
        raise NotImplementedError


# -- SQLite ---------------------------------------------------------------------------------


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
            for stmt in self._create_statements():
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

    async def _append_group(self, group: Sequence[_Pending]) -> list[Stored | Exception]:
        keys = [p.idem.key for p in group if p.idem is not None]

        def write(conn: sqlite3.Connection) -> list[Stored | Exception]:
            known = {r[0]: r[1:] for r in conn.execute(SQL.known(len(keys)), keys)} if keys else {}
            first = conn.execute(SQL.next_id(LANDING_LOGS.name)).fetchone()[0]
            now = timestamp_text(dt.datetime.now(dt.UTC))
            answers, stored, records = plan_group(group, known, first, now)
            conn.executemany(
                SQL.insert_logs,
                ((at + i, now, *row) for at, p in stored for i, row in enumerate(p.batch)),
            )
            conn.executemany(SQL.record, records)
            return answers

        return await self._run(lambda: self._transaction(write))

    async def add_user(self, user: dict[str, Any]) -> dict[str, Any]:
        def write(conn: sqlite3.Connection) -> dict[str, Any]:
            for check in SQL.email_taken:
                if conn.execute(check, (user["email"],)).fetchone():
                    raise DuplicateEmail(user["email"])
            first = conn.execute(SQL.next_id(LANDING_USERS.name)).fetchone()[0]
            row = {"id": first, "received_at": dt.datetime.now(dt.UTC), **user}
            values = [row[c] for c in USER_COLUMNS]
            values[1] = timestamp_text(values[1])
            conn.execute(SQL.insert_user, values)
            return row

        return await self._run(lambda: self._transaction(write))


# -- PostgreSQL -----------------------------------------------------------------------------


class PostgresLandingStore(LandingStore):
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
        self._opened = False
        self._ddl_lock = asyncio.Lock()

    async def open(self) -> None:
        if not self._opened:
            await self.pool.open(wait=False)
            self._opened = True

    async def close(self) -> None:
        if self._opened:
            await self.pool.close()
            self._opened = False

    async def _transaction(self, lock_table: str, body: Callable[[Any], Any]) -> Any:
        await self.open()
        try:
            if not self._ready:
                async with self._ddl_lock, self.pool.connection() as conn:
                    if not self._ready:
                        # Serialized across processes: concurrent CREATE IF NOT EXISTS can clash.
                        await conn.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_id("ddl")])
                        for stmt in self._create_statements():
                            await conn.execute(stmt)
                        self._ready = True
            # In a pipeline, statements go out without waiting for each other's results: a
            # transaction waits on the event loop once per result it reads, not per statement,
            # and the loop may be busy validating other requests for milliseconds at a time.
            async with self.pool.connection() as conn, conn.pipeline(), conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_id(lock_table)])
                return await body(conn)
        except psycopg.errors.QueryCanceled as exc:
            raise WarehouseBusy(str(exc)) from None
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise DatabaseUnavailable(str(exc).strip() or type(exc).__name__) from None

    @staticmethod
    def _batch(records: list[LogRecordIn]) -> str:
        return LOG_BATCH.dump_json(records).decode()

    async def _append_group(self, group: Sequence[_Pending]) -> list[Stored | Exception]:
        keys = [p.idem.key for p in group if p.idem is not None]

        async def write(conn: Any) -> list[Stored | Exception]:
            # Two round trips: the lock, the stored keys and the next id; then the rows, the
            # keys' answers and the commit.
            stored_keys = await conn.execute(PG_SQL.known(len(keys)), keys) if keys else None
            cur = await conn.execute(PG_SQL.next_id(LANDING_LOGS.name))
            first = (await cur.fetchone())[0]
            known = {r[0]: r[1:] for r in await stored_keys.fetchall()} if stored_keys else {}
            now = timestamp_text(dt.datetime.now(dt.UTC))
            answers, stored, records = plan_group(group, known, first, now)
            if stored:
                await conn.cursor().executemany(
                    PG_INSERT_BATCH, [(at, now, p.batch) for at, p in stored]
                )
            if records:
                await conn.cursor().executemany(PG_SQL.record, records)
            return answers

        return await self._transaction(LANDING_LOGS.name, write)

    async def add_user(self, user: dict[str, Any]) -> dict[str, Any]:
        async def write(conn: Any) -> dict[str, Any]:
            for check in PG_SQL.email_taken:
                if await (await conn.execute(check, [user["email"]])).fetchone():
                    raise DuplicateEmail(user["email"])
            cur = await conn.execute(PG_SQL.next_id(LANDING_USERS.name))
            row = {"id": (await cur.fetchone())[0], "received_at": dt.datetime.now(dt.UTC), **user}
            await conn.execute(PG_SQL.insert_user, [row[c] for c in USER_COLUMNS])
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


def open_store(
    url: str, *, write_timeout_ms: int, pool_size: int, prepare_threshold: int | None = 5
) -> LandingStore:
    """The landing store of the warehouse at `url` (connects on first use)."""
    if url.startswith("sqlite"):
        return SQLiteLandingStore(url, write_timeout_ms)
    return PostgresLandingStore(url, write_timeout_ms, pool_size, prepare_threshold)
