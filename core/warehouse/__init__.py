"""The warehouse: tables created from the contracts, partitions replaced atomically, on SQLite
or PostgreSQL, reached by one URL.

One module per concern: `connection` (connections, transactions, statements with named binds),
`tables` (DDL from the contracts), `ledger` (`partition_ledger` and `quarantine`), `reads`,
`writes` (partition replaces, upserts, rebuilds inside the database), `indexes` (deferred index
builds), and one module per engine (`sqlite`: `executemany` in one WAL transaction; `postgres`:
`COPY` both ways, advisory locks). The SQL text itself is the dialect's (`core.sql`,
`core.statements`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from core.warehouse.postgres import PostgresWarehouse
from core.warehouse.sqlite import SQLiteWarehouse
from core.warehouse.writes import Warehouse

DEFAULT_WAREHOUSE_URL = "sqlite:///data/warehouse.db"

__all__ = [
    "DEFAULT_WAREHOUSE_URL",
    "PostgresWarehouse",
    "SQLiteWarehouse",
    "Warehouse",
    "open_warehouse",
]


def open_warehouse(url: str = DEFAULT_WAREHOUSE_URL, run_id: str | None = None) -> Warehouse:
    """The warehouse at `url`: `sqlite:///relative/or/abs.db` or `postgresql://...`."""
    scheme = urlsplit(url).scheme.split("+", 1)[0]
    if scheme == "sqlite":
        return SQLiteWarehouse(url, run_id)
    if scheme in ("postgresql", "postgres"):
        return PostgresWarehouse(url, run_id)
    raise ValueError(
        f"unsupported warehouse URL scheme {scheme!r}: use sqlite:/// or postgresql://"
    )
