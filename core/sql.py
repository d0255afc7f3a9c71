"""The warehouse's SQL as text, for both engines: identifiers, timestamps, keys and each
engine's dialect (DDL, upserts, the expressions that differ). No driver, no pyarrow and no
SQLAlchemy: the serving API builds its statements and creates its tables with it, and the
warehouse writer (`core.warehouse`) runs the same DDL; `core.statements` binds parameters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

from core.contracts import Column, Contract

# Keys per `IN (...)` list: under SQLite's 32,766 and PostgreSQL's 65,535 parameters.
PARAMS_PER_STATEMENT = 10_000


def timestamp_text(value: datetime) -> str:
    """A UTC timestamp in the text form both engines store and parse alike:
    `YYYY-MM-DD HH:MM:SS.ffffffZ` (sorts as text in time order)."""
    t = value if value.tzinfo is UTC else value.astimezone(UTC)
    # An f-string: strftime costs several times more, and the write path runs this per record.
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d} "
        f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}.{t.microsecond:06d}Z"
    )


def key_slices(keys: list[str]) -> list[list[str]]:
    """Keys in slices for `IN (...)` lists: a few years of hourly partitions would exceed an
    engine's parameter limit in one statement."""
    step = PARAMS_PER_STATEMENT
    return [keys[i : i + step] for i in range(0, len(keys), step)]


def quote(identifier: str) -> str:
    """Quote an SQL identifier (names come from contracts, never from requests)."""
    return '"' + identifier.replace('"', '""') + '"'


def fts_table(contract: Contract) -> str:
    """The full-text index of a contract with `search` columns: an FTS5 table on SQLite, a GIN
    index on PostgreSQL."""
    return f"{contract.name}_fts"


def search_vector(contract: Contract) -> str:
    """PostgreSQL: the tsvector expression the GIN index covers; a query must use it verbatim
    (with `@@ websearch_to_tsquery('simple', ...)`) for the index to apply."""
    text = " || ' ' || ".join(f"coalesce({quote(c)}, '')" for c in contract.search)
    return f"to_tsvector('simple', {text})"


def primary_key(contract: Contract) -> tuple[str, ...]:
    """The table's primary key: the contract key, led by the partition column if any (unique,
    so a total order). Uniqueness of the key across partitions is checked by the asset checks,
    not enforced, so that one bad drop cannot block loading another day."""
    part = contract.partition_column
    if part and part not in contract.key:
        return (part, *contract.key)
    return contract.key


def indexes(contract: Contract) -> list[tuple[str, bool, tuple[str, ...]]]:
    """(name, unique, columns) of the contract's unique and secondary indexes."""
    return [
        (f"{'ux' if unique else 'ix'}_{contract.name}_{'_'.join(columns)}", unique, columns)
        for unique, columns in [(True, u) for u in contract.unique]
        + [(False, ix) for ix in contract.indexes]
    ]


class Dialect:
    """One engine's SQL: its placeholder (for the raw bulk paths; statements name their binds,
    see `core.statements`), column types, DDL, upserts and the expressions that differ."""

    engine = ""
    placeholder = "?"
    ddl_types: dict[str, str] = {}

    # -- expressions ------------------------------------------------------------------------
    def date_to_timestamp(self, expr: str) -> str:
        """A date column as a timestamp at midnight UTC."""
        raise NotImplementedError

    def decimal_text(self, expr: str, places: int) -> str:
        """A number as text with a fixed number of decimal places."""
        raise NotImplementedError

    def json(self, expr: str) -> str:
        """JSON text as the engine's JSON column type takes it (text on SQLite)."""
        return expr

    def timestamp(self, expr: str) -> str:
        """A `timestamp_text` value (e.g. a bind) where SQL cannot infer its type."""
        return expr

    def select_list(self, contract: Contract) -> str:
        """The contract's columns as read into Arrow (each engine's text for timestamps)."""
        return ", ".join(quote(c) for c in contract.column_names)

    # -- statements -------------------------------------------------------------------------
    def upsert(self, table: str, columns: Sequence[str], key: Sequence[str], source: str) -> str:
        """Insert the rows of `source` (a `SELECT` of `columns`, or `VALUES (...)`) into
        `table`, updating the other columns of rows whose `key` exists."""
        cols = ", ".join(quote(c) for c in columns)
        updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns if c not in key)
        # `WHERE true` lets SQLite parse ON CONFLICT after INSERT ... SELECT.
        where = " WHERE true" if source.lstrip().upper().startswith("SELECT") else ""
        return (
            f"INSERT INTO {quote(table)} ({cols}) {source}{where} "
            f"ON CONFLICT ({', '.join(quote(c) for c in key)}) "
            + (f"DO UPDATE SET {updates}" if updates else "DO NOTHING")
        )

    def temp_table_like(self, name: str, table: str) -> str:
        """A temporary, empty table with `table`'s columns, gone at the latest with the
        connection."""
        raise NotImplementedError

    def refresh_statistics(self, table: str) -> str | None:
        """The statement that brings the planner's statistics of `table` up to date after a bulk
        write, if the engine plans by them (None: it needs none)."""
        return None

    def column_ddl(self, col: Column) -> str:
        return f"{quote(col.name)} {self.ddl_types[col.type]}{'' if col.nullable else ' NOT NULL'}"

    def create_statements(self, contract: Contract) -> list[str]:
        """DDL for the contract's table and its indexes (idempotent)."""
        t = contract.name
        cols = ", ".join(self.column_ddl(c) for c in contract.columns)
        pk = ", ".join(quote(c) for c in primary_key(contract))
        stmts = [f"CREATE TABLE IF NOT EXISTS {quote(t)} ({cols}, PRIMARY KEY ({pk}))"]
        for name, unique, columns in indexes(contract):
            kind = "UNIQUE INDEX" if unique else "INDEX"
            stmts.append(
                f"CREATE {kind} IF NOT EXISTS {quote(name)} ON {quote(t)} "
                f"({', '.join(quote(c) for c in columns)})"
            )
        if contract.search:
            stmts += self.search_statements(contract)
        return stmts

    def search_statements(self, contract: Contract) -> list[str]:
        """DDL for the full-text index over the contract's `search` columns."""
        raise NotImplementedError


class SQLiteDialect(Dialect):
    engine = "sqlite"
    placeholder = "?"
    ddl_types = {
        "string": "TEXT",
        "int": "INTEGER",
        "float": "REAL",
        "bool": "INTEGER",
        "date": "TEXT",
        "timestamp": "TEXT",
        "json": "TEXT",
    }

    def date_to_timestamp(self, expr: str) -> str:
        return f"({expr} || ' 00:00:00.000000Z')"

    def decimal_text(self, expr: str, places: int) -> str:
        return f"printf('%.{places}f', {expr})"

    def temp_table_like(self, name: str, table: str) -> str:
        return f"CREATE TEMP TABLE {quote(name)} AS SELECT * FROM {quote(table)} WHERE 0"

    def search_statements(self, contract: Contract) -> list[str]:
        # An external-content FTS5 table kept in step by triggers, inside each write's
        # transaction.
        t, fts = contract.name, fts_table(contract)
        cols = ", ".join(quote(c) for c in contract.search)
        new = ", ".join(f"new.{quote(c)}" for c in contract.search)
        old = ", ".join(f"old.{quote(c)}" for c in contract.search)
        add = f"INSERT INTO {quote(fts)} (rowid, {cols}) VALUES (new.rowid, {new});"
        remove = (
            f"INSERT INTO {quote(fts)} ({quote(fts)}, rowid, {cols}) "
            f"VALUES ('delete', old.rowid, {old});"
        )
        return [
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {quote(fts)} USING fts5({cols}, "
            f"content={quote(t)}, content_rowid='rowid')",
            f"CREATE TRIGGER IF NOT EXISTS {quote(fts + '_ai')} AFTER INSERT ON {quote(t)} "
            f"BEGIN {add} END",
            f"CREATE TRIGGER IF NOT EXISTS {quote(fts + '_ad')} AFTER DELETE ON {quote(t)} "
            f"BEGIN {remove} END",
            f"CREATE TRIGGER IF NOT EXISTS {quote(fts + '_au')} AFTER UPDATE ON {quote(t)} "
            f"BEGIN {remove} {add} END",
        ]


class PostgresDialect(Dialect):
    engine = "postgresql"
    placeholder = "%s"
    ddl_types = {
        "string": "TEXT",
        "int": "BIGINT",
        "float": "DOUBLE PRECISION",
        "bool": "BOOLEAN",
        "date": "DATE",
        "timestamp": "TIMESTAMPTZ",
        "json": "JSONB",
    }

    def date_to_timestamp(self, expr: str) -> str:
        return f"CAST({expr} AS TIMESTAMPTZ)"

    def decimal_text(self, expr: str, places: int) -> str:
        return f"to_char({expr}, 'FM999999999999990.{'0' * places}')"

    def json(self, expr: str) -> str:
        return f"CAST({expr} AS JSONB)"

    def timestamp(self, expr: str) -> str:
        return f"CAST({expr} AS TIMESTAMPTZ)"

    def select_list(self, contract: Contract) -> str:
        # Timestamps as ISO text in UTC, the form Arrow's CSV reader parses.
        return ", ".join(
            f"to_char({quote(c.name)} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "
            f"AS {quote(c.name)}"
            if c.type == "timestamp"
            else quote(c.name)
            for c in contract.columns
        )

    def temp_table_like(self, name: str, table: str) -> str:
        return f"CREATE TEMP TABLE {quote(name)} (LIKE {quote(table)}) ON COMMIT DROP"

    def refresh_statistics(self, table: str) -> str | None:
        # Right after a bulk load autovacuum has not analyzed the table yet: planned on the old
        # estimates (a day of a few hundred rows), the audits' semi-join over the other
        # partitions becomes a nested loop over the primary key, quadratic in the rows.
        return f"ANALYZE {quote(table)}"

    def search_statements(self, contract: Contract) -> list[str]:
        return [
            f"CREATE INDEX IF NOT EXISTS {quote(fts_table(contract))} ON {quote(contract.name)} "
            f"USING GIN ({search_vector(contract)})"
        ]


SQLITE, POSTGRES = SQLiteDialect(), PostgresDialect()


def dialect_for(url: str) -> Dialect:
    """The dialect of the warehouse at `url`: `sqlite:///…` or `postgresql://…`."""
    scheme = urlsplit(url).scheme.split("+", 1)[0]
    if scheme == "sqlite":
        return SQLITE
    if scheme in ("postgresql", "postgres"):
        return POSTGRES
    raise ValueError(
        f"unsupported warehouse URL scheme {scheme!r}: use sqlite:/// or postgresql://"
    )
