"""Dagster's private API, in the one module that uses it, checked at start-up against the
release it was written for (pyproject pins that release exactly).

**The embedded instance's event log**: Dagster's own SQLite storage, writing the event batches
Dagster hands it in one transaction per database instead of one per event. A range run (a
single-run backfill) reports, per partition and asset, an `ASSET_MATERIALIZATION_PLANNED` event
when it starts and an `ASSET_MATERIALIZATION` when the step ends. With `DAGSTER_EVENT_BATCH_SIZE`
above 0 (`make run` sets it for the processes it starts), Dagster hands those batches to
`EventLogStorage.store_event_batch`; `SqliteEventLogStorage` inherits the default, which stores
them one by one - two SQLite transactions (the run's database and the cross-run index) per
event. Here a batch costs two transactions in all. The rows are exactly those `store_event`
writes, through the private helpers it uses, so the UI's materialized, failed and in-progress
partitions read the same. Should those helpers change, the storage says so loudly at start-up
and Dagster's stock `SqliteEventLogStorage` is used instead: correct, one transaction per event.

Configured in `deploy/embedded/dagster.yaml`:

    event_log_storage:
      module: orchestration.instance
      class: BatchedSqliteEventLogStorage

`base_dir` defaults to `$DAGSTER_HOME/history/runs/`, where Dagster's default SQLite storage
keeps the event log, so an existing instance keeps its history.

**A check evaluation's target** (`materialization_target`): `AssetCheckEvaluation` aims a result
at a partition's materialization through a record Dagster exports no public constructor for.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import dagster
from dagster import Field, StringSource
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.errors import DagsterInvariantViolationError
from dagster._core.events import ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._serdes import ConfigurableClassData

# The release this module was written and checked against (pyproject pins it exactly).
DAGSTER_VERSION = "1.13.27"
# Read by Dagster in each process at each run; `make run` sets it for the processes it starts.
BATCH_SIZE_VARIABLE = "DAGSTER_EVENT_BATCH_SIZE"
DEFAULT_BATCH_SIZE = 1000
# What this module calls or builds, and the parameters it passes them.
PRIVATE_SIGNATURES: dict[tuple[type, str], list[str]] = {
    (SqliteEventLogStorage, "store_event"): ["self", "event"],
    (SqliteEventLogStorage, "prepare_insert_event_batch"): ["self", "events"],
    (SqliteEventLogStorage, "run_connection"): ["self", "run_id"],
    (SqliteEventLogStorage, "index_transaction"): ["self"],
    (SqliteEventLogStorage, "_store_asset_event_tags"): ["self", "conn", "events", "event_ids"],
    (SqliteEventLogStorage, "_store_asset_event"): ["self", "conn", "event", "event_id"],
}
TARGET_FIELDS = ("storage_id", "run_id", "timestamp")

log = logging.getLogger("dagster")


@functools.cache
def private_api_problems() -> list[str]:
    """How the installed Dagster differs from the private API this module uses: nothing when
    it is the one it was written for."""
    problems = []
    for (cls, name), expected in PRIVATE_SIGNATURES.items():
        member: Callable[..., Any] | None = getattr(cls, name, None)
        if member is None:
            problems.append(f"{cls.__name__}.{name} is gone")
            continue
        found = list(inspect.signature(member).parameters)
        if found != expected:
            problems.append(f"{cls.__name__}.{name}({', '.join(found)}), expected {expected}")
    fields = tuple(getattr(AssetCheckEvaluationTargetMaterializationData, "_fields", ()))
    if fields != TARGET_FIELDS:
        problems.append(
            f"AssetCheckEvaluationTargetMaterializationData{fields}, expected {TARGET_FIELDS}"
        )
    return problems


def materialization_target(
    storage_id: int, run_id: str, timestamp: float
) -> AssetCheckEvaluationTargetMaterializationData | None:
    """The target of a check evaluation: the materialization it judged; None (the asset's
    latest materialization) when the record is not the one this module knows."""
    if private_api_problems():
        return None
    return AssetCheckEvaluationTargetMaterializationData(
        storage_id=storage_id, run_id=run_id, timestamp=timestamp
    )


# Rows of one INSERT: 7 columns each, well under SQLite's 32,766 parameters.
ROWS_PER_INSERT = 500


def _is_asset_event(event: EventLogEntry) -> bool:
    return bool(
        event.is_dagster_event
        and event.dagster_event_type in ASSET_EVENTS
        and event.get_dagster_event().asset_key
    )


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` whose `store_event_batch` writes a batch of asset events in one
    transaction on the run's database and one on the index database."""

    @classmethod
    def config_type(cls) -> dict[str, Field]:
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: dict[str, Any]
    ) -> SqliteEventLogStorage:
        base_dir = config_value.get("base_dir")
        if not base_dir:
            home = os.environ.get("DAGSTER_HOME")
            if not home:
                raise ValueError(
                    "BatchedSqliteEventLogStorage: set `base_dir` or DAGSTER_HOME "
                    "(the event log then lives in $DAGSTER_HOME/history/runs/)"
                )
            base_dir = os.path.join(home, "history", "runs", "")
        problems = private_api_problems()
        if problems:
            log.error(
                "orchestration.instance was written for Dagster %s, and Dagster %s differs: %s. "
                "The event log falls back to Dagster's SqliteEventLogStorage (one transaction "
                "per event). Pin dagster==%s, or update this module.",
                DAGSTER_VERSION,
                dagster.__version__,
                "; ".join(problems),
                DAGSTER_VERSION,
            )
            return SqliteEventLogStorage(base_dir, inst_data=inst_data)
        return cls(base_dir, inst_data=inst_data)

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        # Consecutive asset events go together; anything else (asset check planned events)
        # takes `store_event`'s path, in its place in the order.
        group: list[EventLogEntry] = []
        for event in events:
            if _is_asset_event(event):
                group.append(event)
                continue
            self._store_asset_events(group)
            group = []
            self.store_event(event)
        self._store_asset_events(group)

    def _store_asset_events(self, events: list[EventLogEntry]) -> None:
        """What `store_event` writes for each of `events`, in one transaction per database."""
        if len(events) <= 1 or len({event.run_id for event in events}) > 1:
            # (Dagster batches the events of one run; anything else goes event by event.)
            for event in events:
                self.store_event(event)
            return
        # One multi-row INSERT per slice, built (and its events serialized) once for both
        # databases, as `store_event` builds one statement for both.
        slices = [events[i : i + ROWS_PER_INSERT] for i in range(0, len(events), ROWS_PER_INSERT)]
        inserts = [self.prepare_insert_event_batch(part) for part in slices]
        with self.run_connection(events[0].run_id) as conn:
            for insert in inserts:
                conn.execute(insert)
        with self.index_transaction() as conn:
            event_ids: list[int] = []
            for part, insert in zip(slices, inserts, strict=True):
                returned = conn.execute(insert.returning(SqlEventLogStorageTable.c.id)).all()
                # One statement under the write lock: its rows get ascending ids in row order.
                ids = sorted(row[0] for row in returned)
                if len(ids) != len(part):
                    raise DagsterInvariantViolationError(
                        f"stored {len(ids)} of {len(part)} events in the index"
                    )
                event_ids += ids
            self._store_asset_event_tags(conn, events, event_ids)
            # The asset's row keeps, per field, the value of the last event that sets it; each
            # event type sets a fixed set of fields, so the last event of each type per asset
            # (applied in order) leaves the row as applying every event would.
            last: dict[tuple[str, Any], int] = {}
            for index, event in enumerate(events):
                dagster_event = event.get_dagster_event()
                last[(dagster_event.asset_key.to_string(), dagster_event.event_type)] = index
            for index in sorted(last.values()):
                self._store_asset_event(conn, events[index], event_ids[index])
