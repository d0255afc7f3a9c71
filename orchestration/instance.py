"""The embedded Dagster instance's event log: Dagster's own SQLite storage, writing the event
batches Dagster hands it in one transaction per database instead of one per event.

A range run (a single-run backfill) reports, per partition and asset, an
`ASSET_MATERIALIZATION_PLANNED` event when it starts and an `ASSET_MATERIALIZATION` when the
step ends. Dagster marks those as batches and, when `DAGSTER_EVENT_BATCH_SIZE` is above 0, hands
each batch to `EventLogStorage.store_event_batch`; `SqliteEventLogStorage` inherits the default,
which stores them one by one - two SQLite transactions (the run's database and the cross-run
index) per event. Here a batch costs two transactions in all. The rows are exactly those
`store_event` writes: the event in the run's database, the event, its indexed tags and the
asset's latest-event row in the index; so the UI's materialized, failed and in-progress
partitions read the same.

Configured in `deploy/embedded/dagster.yaml`:

    event_log_storage:
      module: orchestration.instance
      class: BatchedSqliteEventLogStorage
      config:
        event_batch_size: 1000

`base_dir` defaults to `$DAGSTER_HOME/history/runs/`, where Dagster's default SQLite storage
keeps the event log, so an existing instance keeps its history. The storage turns Dagster's
batching on (`DAGSTER_EVENT_BATCH_SIZE`, read by the instance of every process that loads this
configuration, unless already set) because the switch is an environment variable, not instance
configuration.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from dagster import Field, IntSource, StringSource
from dagster._core.errors import DagsterInvariantViolationError
from dagster._core.events import ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._serdes import ConfigurableClassData

BATCH_SIZE_VARIABLE = "DAGSTER_EVENT_BATCH_SIZE"
DEFAULT_BATCH_SIZE = 1000
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

    def __init__(
        self,
        base_dir: str,
        event_batch_size: int = DEFAULT_BATCH_SIZE,
        inst_data: ConfigurableClassData | None = None,
    ) -> None:
        super().__init__(base_dir, inst_data=inst_data)
        self.event_batch_size = event_batch_size
        if event_batch_size > 0:
            os.environ.setdefault(BATCH_SIZE_VARIABLE, str(event_batch_size))

    @classmethod
    def config_type(cls) -> dict[str, Field]:
        return {
            "base_dir": Field(StringSource, is_required=False),
            "event_batch_size": Field(
                IntSource, is_required=False, default_value=DEFAULT_BATCH_SIZE
            ),
        }

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: dict[str, Any]
    ) -> BatchedSqliteEventLogStorage:
        base_dir = config_value.get("base_dir")
        if not base_dir:
            home = os.environ.get("DAGSTER_HOME")
            if not home:
                raise ValueError(
                    "BatchedSqliteEventLogStorage: set `base_dir` or DAGSTER_HOME "
                    "(the event log then lives in $DAGSTER_HOME/history/runs/)"
                )
            base_dir = os.path.join(home, "history", "runs", "")
        return cls(
            base_dir,
            event_batch_size=config_value.get("event_batch_size", DEFAULT_BATCH_SIZE),
            inst_data=inst_data,
        )

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
