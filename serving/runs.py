"""`pipeline_runs`, read for /health and /stats.

The table (contract `pipeline_runs`) is written by the platform's run recorder; until the first
run is recorded the answers are zeros and nulls.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from core.contracts.datasets import PIPELINE_RUNS
from core.sql import quote
from serving.db.base import Database

RUNS = PIPELINE_RUNS.name
FIELDS = PIPELINE_RUNS.column_names
TIMESTAMPS = {c.name for c in PIPELINE_RUNS.columns if c.type == "timestamp"}


def _parse_ts(value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    parsed = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class RunsReader:
    """Reads the run history; /stats answers are cached for `ttl_s` (the table only grows)."""

    def __init__(self, db: Database, ttl_s: float = 2.0) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, Any]] = {}

    def _select(self) -> str:
        return ", ".join(
            self.db.timestamp_text(quote(f)) if f in TIMESTAMPS else quote(f) for f in FIELDS
        )

    def _run(self, row: tuple[Any, ...]) -> dict[str, Any]:
        run = dict(zip(FIELDS, row, strict=True))
        for name in TIMESTAMPS:
            run[name] = _parse_ts(run[name])
        return run

    async def _latest(self, where: str = "", params: dict[str, Any] | None = None) -> dict | None:
        rows = await self.db.fetch_named(
            f"SELECT {self._select()} FROM {quote(RUNS)} {where} "
            "ORDER BY started_at DESC, run_id DESC LIMIT 1",
            params or {},
            kind="runs",
        )
        return self._run(rows[0]) if rows else None

    async def last_run(self, tables: set[str]) -> dict[str, Any] | None:
        return await self._latest() if RUNS in tables else None

    async def stats(self, tables: set[str]) -> dict[str, Any]:
        """The source documents' statistics: run count, records, duration, last success and
        last failure with its reason."""
        hit = self._cache.get("stats")
        available = RUNS in tables
        if hit and time.monotonic() - hit[0] < self.ttl_s and hit[1]["runs_available"] == available:
            return hit[1]
        out: dict[str, Any] = {
            "run_count": 0,
            "total_records_processed": 0,
            "total_duration_s": 0.0,
            "last_success": None,
            "last_failure": None,
            "last_failure_reason": None,
            "last_run": None,
            "runs_available": available,
        }
        if available:
            count, records, duration = (
                await self.db.fetch(
                    f"SELECT COUNT(*), SUM(records_processed), SUM(duration_s) FROM {quote(RUNS)}",
                    kind="runs",
                )
            )[0]
            out |= {
                "run_count": int(count or 0),
                "total_records_processed": int(records or 0),
                # Summed floats carry binary noise (0.30000000000000004): milliseconds suffice.
                "total_duration_s": round(float(duration or 0.0), 3),
                "last_run": await self._latest(),
            }
            success = await self._latest("WHERE status = :status", {"status": "SUCCESS"})
            failure = await self._latest("WHERE status <> :status", {"status": "SUCCESS"})
            if success:
                out["last_success"] = success["ended_at"] or success["started_at"]
            if failure:
                out["last_failure"] = failure["ended_at"] or failure["started_at"]
                out["last_failure_reason"] = failure["error"]
        self._cache["stats"] = (time.monotonic(), out)
        return out
