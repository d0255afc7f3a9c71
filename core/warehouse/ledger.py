"""What each write published (`partition_ledger`: asset, partition, rows, written at, run id)
and what a version that failed its blocking checks left for inspection (`quarantine`)."""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from core.contracts import Contract
from core.contracts.datasets import PARTITION_LEDGER, QUARANTINE
from core.sql import key_slices, timestamp_text
from core.statements import compile_statement
from core.warehouse.tables import Tables

# Offending rows a failed version keeps in `quarantine`, per check (the check's metadata has the
# exact count); a day whose every row fails must not hold a million rows in memory as JSON.
QUARANTINE_MAX_ROWS = 100_000

LEDGER_COLUMNS = ("asset", "partition", "rows", "written_at", "run_id")


class Ledger(Tables):
    """The partition ledger and the quarantine."""

    @abstractmethod
    def _bulk_insert(self, conn: Any, table_name: str, data: pa.Table) -> None: ...

    def _record(self, conn: Any, contract: Contract, rows: dict[str, int]) -> None:
        """Note in `partition_ledger` what this write put in each partition."""
        self._ensure(conn, PARTITION_LEDGER)
        values = "VALUES (" + ", ".join(f":{c}" for c in LEDGER_COLUMNS) + ")"
        key = ("asset", "partition")
        upsert = compile_statement(
            self.dialect,
            self.dialect.upsert(PARTITION_LEDGER.name, LEDGER_COLUMNS, key, values),
            dict.fromkeys(LEDGER_COLUMNS),
        )
        now = timestamp_text(datetime.now(UTC))
        conn.cursor().executemany(
            upsert.sql,
            [
                upsert.args(
                    {
                        "asset": contract.name,
                        "partition": key,
                        "rows": n,
                        "written_at": now,
                        "run_id": self.run_id,
                    }
                )
                for key, n in rows.items()
            ],
        )

    def published(self, contract: Contract, partitions: Sequence[str]) -> set[str]:
        """Those of `partitions` that a write has published (their row in `partition_ledger`)."""
        found: set[str] = set()
        with self.transaction() as conn:
            self._ensure(conn, PARTITION_LEDGER)
            for chunk in key_slices(list(partitions)):
                rows = self.execute(
                    conn,
                    "SELECT partition FROM partition_ledger "
                    "WHERE asset = :asset AND partition IN :partitions",
                    {"asset": contract.name, "partitions": chunk},
                ).fetchall()
                found.update(row[0] for row in rows)
        return found

    def partition_rows(self, asset: str, partition: str, conn: Any | None = None) -> int | None:
        """The rows the last write of `partition` published, if any did."""
        with self._use(conn) as c:
            self._ensure(c, PARTITION_LEDGER)
            row = self.execute(
                c,
                "SELECT rows FROM partition_ledger WHERE asset = :asset AND partition = :partition",
                {"asset": asset, "partition": partition},
            ).fetchone()
        return None if row is None else int(row[0])

    def partition_history(
        self, asset: str, before: str, limit: int, conn: Any | None = None
    ) -> list[int]:
        """The rows of the last `limit` partitions written before `before`, newest first."""
        with self._use(conn) as c:
            self._ensure(c, PARTITION_LEDGER)
            rows = self.execute(
                c,
                "SELECT rows FROM partition_ledger WHERE asset = :asset AND partition < :before "
                f"ORDER BY partition DESC LIMIT {int(limit)}",
                {"asset": asset, "before": before},
            ).fetchall()
        return [int(r[0]) for r in rows]

    def _rows_elsewhere(self, conn: Any, contract: Contract, keys: list[str]) -> int:
        """Rows of `contract`'s table outside the partitions `keys`, by `partition_ledger`."""
        self._ensure(conn, PARTITION_LEDGER)
        total = 0
        for chunk in key_slices(keys):
            total += self.execute(
                conn,
                "SELECT COALESCE(SUM(rows), 0) FROM partition_ledger "
                "WHERE asset = :asset AND partition NOT IN :partitions",
                {"asset": contract.name, "partitions": chunk},
            ).fetchone()[0]
        return int(total)

    def quarantine(
        self, asset: str, partition: str, offending: dict[str, pa.Table], conn: Any | None = None
    ) -> int:
        """Keep the offending rows of a version that failed its blocking checks (by check name),
        replacing what an earlier failed version of the partition left. Returns rows kept."""
        now = datetime.now(UTC)
        rows = [
            {
                "asset": asset,
                "partition": partition,
                "check_name": check,
                "row_number": number,
                "row": json.dumps(row, default=str, ensure_ascii=False),
                "run_id": self.run_id,
                "quarantined_at": now,
            }
            for check, table in offending.items()
            for number, row in enumerate(table.slice(0, QUARANTINE_MAX_ROWS).to_pylist(), 1)
        ]
        with self._use(conn) as c:
            self.release(asset, [partition], conn=c)
            if rows:
                self._bulk_insert(
                    c, QUARANTINE.name, QUARANTINE.conform(pa.Table.from_pylist(rows))
                )
        return len(rows)

    def release(self, asset: str, partitions: Sequence[str], conn: Any | None = None) -> None:
        """Drop what failed versions of these partitions left in `quarantine`: a good version
        was published (or a failed one is about to replace them)."""
        with self._use(conn) as c:
            self._ensure(c, QUARANTINE)
            for chunk in key_slices([str(p) for p in partitions]):
                self.execute(
                    c,
                    "DELETE FROM quarantine WHERE asset = :asset AND partition IN :partitions",
                    {"asset": asset, "partitions": chunk},
                )
