"""The read side of the warehouse: one async interface, one implementation per engine.

Every statement the API runs goes through `Database.fetch` (or `stream`), which applies the time
limit, counts the statement in `queries` (by kind, for /metrics and the tests) and turns engine
errors into `DatabaseUnavailable` / `QueryTimeout`. Connections are read-only.
"""

from __future__ import annotations

import datetime as dt
import enum
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import orjson

from core.contracts import Column, Contract
from core.sql import dialect_for, quote

Row = tuple[Any, ...]


class Work(enum.Enum):
    """How much reading a statement takes, as the code that builds it knows: an engine whose
    statements can run on the event loop decides by it where one runs."""

    RANGE = "range"  # a page along an index: a few rows read
    SCAN = "scan"  # anything else: filtered pages, counts, the catalog's reads
    SEARCH = "search"  # a full-text match: its index's doclists, however long


class DatabaseUnavailable(Exception):
    """The warehouse cannot be reached (or its file does not exist)."""


class QueryTimeout(Exception):
    """A statement ran past its time limit and was cancelled."""


class Database(ABC):
    """An async, read-only view of the warehouse; see `open_database`."""

    engine: str
    placeholder: str

    def __init__(self, url: str, *, pool_size: int, query_timeout_ms: int, pool_timeout_ms: int):
        self.url = url
        self.pool_size = pool_size
        self.query_timeout_ms = query_timeout_ms
        self.pool_timeout_ms = pool_timeout_ms
        #: Statements run, by kind (`data`, `count`, `version`, `ping`, ...).
        self.queries: Counter[str] = Counter()

    # -- lifecycle --------------------------------------------------------------------------
    @abstractmethod
    async def open(self) -> None:
        """Start the pool; never fails because the database is down."""

    @abstractmethod
    async def close(self) -> None:
        """Release every connection."""

    # -- statements -------------------------------------------------------------------------
    @abstractmethod
    async def fetch(
        self,
        sql: str,
        params: Sequence[Any] = (),
        *,
        kind: str = "data",
        work: Work = Work.SCAN,
    ) -> list[Row]:
        """Run one read statement under the time limit and return its rows; `work` says what
        the statement is (see `Work`)."""

    async def fetch_named(
        self, sql: str, params: Mapping[str, Any], *, kind: str = "data"
    ) -> list[Row]:
        """`fetch` for a statement with named binds (`WHERE id > :last_id`), compiled to this
        engine's placeholders by `core.statements` (once per statement)."""
        # Imported here: SQLAlchemy stays off the import path of an API that never needs it.
        from core.statements import compile_statement

        compiled = compile_statement(dialect_for(self.url), sql, params)
        return await self.fetch(compiled.sql, compiled.args(params), kind=kind)

    @abstractmethod
    def stream(
        self, sql: str, params: Sequence[Any], *, timeout_ms: int, batch: int = 2000
    ) -> AsyncIterator[list[Row]]:
        """Rows of a long read in batches, holding one connection for the whole stream."""

    @abstractmethod
    async def ping(self) -> None:
        """A real round trip to the database; raises `DatabaseUnavailable`."""

    @abstractmethod
    async def existing_tables(self) -> set[str]: ...

    @abstractmethod
    async def table_columns(self, table: str) -> list[str]: ...

    # -- dialect ----------------------------------------------------------------------------
    def select_expr(self, col: Column) -> str:
        """The column as the API serves it (dates `YYYY-MM-DD`, timestamps ISO 8601 in UTC)."""
        return quote(col.name)

    def converter(self, col: Column) -> Callable[[Any], Any] | None:
        """Turns a fetched value into its JSON-ready form (None: as fetched)."""
        if col.type == "json":
            return _json_fragment
        return None

    @abstractmethod
    def bind(self, col: Column, value: Any) -> Any:
        """A typed Python value (date, datetime, bool...) as this engine's parameter."""

    @abstractmethod
    def timestamp_text(self, expr: str) -> str:
        """SQL: a stored timestamp as ISO 8601 text."""

    @abstractmethod
    def contains(self, expr: str) -> str:
        """SQL: `expr` contains the parameter as a substring (no LIKE wildcards)."""

    @abstractmethod
    def search(self, contract: Contract) -> str:
        """SQL condition: the row matches the full-text query parameter, through the index."""

    @abstractmethod
    def search_param(self, text: str) -> str | None:
        """The user's search text as this engine's full-text query (None: nothing to match)."""

    @abstractmethod
    def order_term(self, col: Column, desc: bool, driven: bool = False) -> str:
        """ORDER BY term; NULL sorts as the largest value on both engines."""

    def equals_ignoring_case(self, expr: str) -> str:
        """SQL: `expr` equals the parameter, case-insensitively."""
        return f"lower({expr}) = lower({self.placeholder})"

    @abstractmethod
    def currency_token(self, expr: str) -> str:
        """SQL: a comma-separated list in `expr` holds the parameter as one item."""

    @abstractmethod
    def json_array_has(self, expr: str) -> str:
        """SQL: the JSON array `expr` has an object whose `code` equals the first parameter or
        whose `name` equals the second (case-insensitively)."""


def _json_fragment(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return orjson.Fragment(value)
    return value


def iso_timestamp(value: dt.datetime) -> str:
    """The API's timestamp text: `YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
