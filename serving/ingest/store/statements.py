"""The write path's SQL: the tables a push writes and checks, and each engine's statements."""

from __future__ import annotations

import hashlib

from core.contracts import Contract
from core.contracts.datasets import INGEST_REQUESTS, LANDING_LOGS, LANDING_USERS, USERS
from core.sql import dialect_for, quote
from serving.ingest.models import SEVERITY_ALIASES

LOG_COLUMNS = LANDING_LOGS.column_names
USER_COLUMNS = LANDING_USERS.column_names


def create_statements(url: str) -> list[str]:
    """`CREATE ... IF NOT EXISTS` of the landing tables, the idempotency records and `users`:
    a push checks its emails there, and may come before the first materialization."""
    ddl = dialect_for(url)
    contracts: tuple[Contract, ...] = (LANDING_LOGS, LANDING_USERS, INGEST_REQUESTS, USERS)
    return [s for c in contracts for s in ddl.create_statements(c)]


def lock_id(table: str) -> int:
    """A stable 64-bit PostgreSQL advisory-lock id per landing table."""
    digest = hashlib.blake2b(table.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Statements:
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


SQLITE, POSTGRES = Statements("?"), Statements("%s")

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
