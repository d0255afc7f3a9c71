"""Connections, transactions and sessions, and statements run with named binds."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from core.sql import SQLITE, Dialect
from core.statements import bind


class Connections(ABC):
    """A warehouse database reached by URL: its connections, and statements run on them."""

    dialect: Dialect = SQLITE

    def __init__(self, url: str, run_id: str | None = None) -> None:
        self.url = url
        # Recorded in `partition_ledger` beside every write.
        self.run_id = run_id
        # The connection `session()` holds open; `transaction()` then runs on it.
        self._held: Any | None = None

    @property
    def engine(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.dialect.engine

    @abstractmethod
    def connect(self) -> Any:
        """A new DB-API connection."""

    @abstractmethod
    def transaction(self) -> Iterator[Any]:
        """A connection inside one transaction: committed on exit, rolled back on error."""

    @contextmanager
    def session(self) -> Iterator[None]:
        """One connection for every `transaction()` inside the block, each still its own
        transaction: a range of partitions, written one transaction per partition, opens and
        closes one connection instead of one per partition. Not shared across threads."""
        if self._held is not None:
            yield
            return
        self._held = self._open_session()
        try:
            yield
        finally:
            held, self._held = self._held, None
            self._close_session(held)

    def _open_held(self) -> Any:
        return self.connect()

    def _open_session(self) -> Any:
        """The connection a `session()` holds."""
        return self._open_held()

    def _close_session(self, conn: Any) -> None:
        """Close the connection a `session()` held."""
        conn.close()

    @contextmanager
    def _use(self, conn: Any | None) -> Iterator[Any]:
        """`conn` when the caller holds a transaction, else a transaction of our own."""
        if conn is not None:
            yield conn
        else:
            with self.transaction() as own:
                yield own

    def execute(self, conn: Any, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        """Run `sql` on `conn` with its named binds (`:name`; a list for `IN :names`); returns
        the cursor."""
        return conn.execute(*bind(self.dialect, sql, params))

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a read statement with its named binds, in a transaction of its own; its rows."""
        with self.transaction() as conn:
            return list(self.execute(conn, sql, params).fetchall())
