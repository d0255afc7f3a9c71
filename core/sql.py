"""The warehouse's SQL as text, for both engines: identifiers, timestamps, keys and each
engine's DDL (its dialect). No driver and no pyarrow: the serving API builds its statements and
creates its tables with it, and the warehouse writer (`core.warehouse`) runs the same DDL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
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
    """One engine's SQL: its placeholder, column types and DDL."""

    engine = ""
    placeholder = "?"
    ddl_types: dict[str, str] = {}

    def in_list(self, values: Sequence[Any]) -> str:
        """A parenthesized list of placeholders for `values`."""
        return "(" + ", ".join([self.placeholder] * len(values)) + ")"

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
