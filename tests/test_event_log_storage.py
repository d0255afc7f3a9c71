"""The embedded instance's event log (`orchestration.instance.BatchedSqliteEventLogStorage`)
against Dagster's own SQLite event log: the same events, the same asset records and the same
partition status in the UI's GraphQL API, in fewer transactions."""

import logging
import os
import shutil
from collections import Counter
from pathlib import Path

import dagster
import pytest
import sqlalchemy
from dagster import AssetKey, DagsterInstance, materialize
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

from orchestration.instance import (
    BATCH_SIZE_VARIABLE,
    DAGSTER_VERSION,
    BatchedSqliteEventLogStorage,
    materialization_target,
    private_api_problems,
)
from tests import partition_status_defs as graph

ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_YAML = ROOT / "deploy" / "embedded" / "dagster.yaml"
KEYS = [AssetKey("days_raw"), AssetKey("days_clean")]
STATUS = """
query Status($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      partitionStats { numMaterialized numMaterializing numFailed numPartitions }
      assetPartitionStatuses {
        __typename
        ... on TimePartitionStatuses { ranges { status startKey endKey } }
      }
    }
  }
}
"""


def _range(first: str, last: str) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    }


def _instance(home: Path, batched: bool, monkeypatch) -> DagsterInstance:
    """An instance in `home` on the embedded config, or on Dagster's defaults."""
    home.mkdir(parents=True)
    # The embedded storage finds its folder through DAGSTER_HOME, as every process does.
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    if batched:
        shutil.copy(EMBEDDED_YAML, home / "dagster.yaml")
    else:
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return DagsterInstance.from_config(str(home))


def _scenario(instance: DagsterInstance, monkeypatch) -> dict:
    """A 20-day range, then an overlapping range whose `days_clean` fails, then a run created
    but not started; what the event log and the UI's API then say."""
    commits = Counter()

    def count(_conn) -> None:
        commits["n"] += 1

    monkeypatch.setenv("DAGSTER_HOME", instance.root_directory)
    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "commit", count)
    try:
        ok = materialize(
            [graph.days_raw, graph.days_clean],
            instance=instance,
            tags=_range("2024-01-01", "2024-01-20"),
        )
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "commit", count)
    failed = materialize(
        [graph.days_raw, graph.days_clean],
        instance=instance,
        tags=_range("2024-01-18", "2024-01-25"),
        run_config={"ops": {"days_clean": {"config": {"fail_days": ["2024-01-24"]}}}},
        raise_on_error=False,
    )
    assert ok.success and not failed.success
    pending = instance.create_run_for_job(
        graph.defs.resolve_job_def("days_job"), tags=_range("2024-02-01", "2024-02-03")
    )
    runs = {ok.run_id: "ok", failed.run_id: "failed", pending.run_id: "pending"}
    out = {
        "range_run_commits": commits["n"],
        "events": {
            name: Counter(
                e.dagster_event_type.value if e.dagster_event_type else "LOG"
                for e in instance.all_logs(run_id)
            )
            for run_id, name in runs.items()
        },
        "materialized": {k.to_user_string(): instance.get_materialized_partitions(k) for k in KEYS},
        "records": {},
        "ui": {},
    }
    for record in instance.get_asset_records(KEYS):
        entry = record.asset_entry
        key = entry.asset_key
        stored = instance.fetch_materializations(key, limit=1000).records
        latest = entry.last_materialization_record
        # The asset's row points at the index row of its last materialization, by id.
        assert latest.storage_id == stored[0].storage_id
        assert latest.partition_key == stored[0].partition_key
        out["records"][key.to_user_string()] = {
            "last_materialization_partition": entry.last_materialization.dagster_event.partition,
            "last_materialization_run": runs[entry.last_materialization.run_id],
            "last_run": runs[entry.last_run_id],
            # Every materialization in the index, newest first, and its indexed tags.
            "materializations": [
                (r.partition_key, runs[r.run_id], len(r.asset_materialization.tags or {}))
                for r in stored
            ],
            "indexed_tags": [
                instance.get_event_tags_for_asset(key, filter_event_id=r.storage_id)
                == [{"dagster/data_version": r.asset_materialization.tags["dagster/data_version"]}]
                for r in stored
            ],
        }
    with define_out_of_process_context(str(Path(graph.__file__)), "defs", instance) as context:
        for key in KEYS:
            result = execute_dagster_graphql(context, STATUS, {"key": {"path": key.path}})
            assert not result.errors, result.errors
            out["ui"][key.to_user_string()] = result.data["assetNodeOrError"]
    return out


@pytest.mark.slow
def test_batched_event_log_reads_as_dagsters_own(tmp_path, monkeypatch):
    monkeypatch.setenv(BATCH_SIZE_VARIABLE, "1000")
    batched = _instance(tmp_path / "batched", True, monkeypatch)
    plain = _instance(tmp_path / "plain", False, monkeypatch)
    assert type(batched.event_log_storage) is BatchedSqliteEventLogStorage
    assert type(plain.event_log_storage) is SqliteEventLogStorage

    got, want = _scenario(batched, monkeypatch), _scenario(plain, monkeypatch)

    assert got["events"] == want["events"]
    assert got["materialized"] == want["materialized"]
    assert got["records"] == want["records"]
    assert got["ui"] == want["ui"]
    # The figures themselves, so the comparison cannot pass on two wrong answers.
    raw, clean = want["ui"]["days_raw"], want["ui"]["days_clean"]
    assert raw["partitionStats"] == {
        "numMaterialized": 25,
        "numMaterializing": 3,
        "numFailed": 0,
        "numPartitions": 60,
    }
    assert clean["assetPartitionStatuses"]["ranges"] == [
        {"status": "MATERIALIZED", "startKey": "2024-01-01", "endKey": "2024-01-17"},
        {"status": "FAILED", "startKey": "2024-01-18", "endKey": "2024-01-25"},
        {"status": "MATERIALIZING", "startKey": "2024-02-01", "endKey": "2024-02-03"},
    ]
    assert want["events"]["ok"]["ASSET_MATERIALIZATION_PLANNED"] == 40
    assert want["events"]["ok"]["ASSET_MATERIALIZATION"] == 40
    assert want["records"]["days_clean"]["last_materialization_partition"] == "2024-01-20"
    assert len(got["records"]["days_raw"]["materializations"]) == 20 + 8
    assert all(got["records"]["days_raw"]["indexed_tags"])
    # Per partition and asset, a planned and a materialization event: two transactions each
    # on Dagster's storage (160 of the range run's ~200), three batches of two here.
    assert got["range_run_commits"] * 3 < want["range_run_commits"]


def test_embedded_storage_keeps_dagsters_layout_and_leaves_the_environment_alone(
    tmp_path, monkeypatch
):
    monkeypatch.delenv(BATCH_SIZE_VARIABLE, raising=False)
    home = tmp_path / "home"
    storage = _instance(home, True, monkeypatch).event_log_storage
    assert type(storage) is BatchedSqliteEventLogStorage
    # $DAGSTER_HOME/history/runs/, where Dagster's default SQLite storage keeps the event log.
    assert (home / "history" / "runs" / "index.db").exists()
    # Batching is switched on by whoever starts the processes (`make run`), not by the storage.
    assert BATCH_SIZE_VARIABLE not in os.environ


def test_the_installed_dagster_is_the_one_the_private_api_was_written_for():
    assert private_api_problems() == []
    assert dagster.__version__ == DAGSTER_VERSION
    pinned = (ROOT / "pyproject.toml").read_text()
    assert f'"dagster=={DAGSTER_VERSION}"' in pinned


def test_a_changed_private_signature_falls_back_to_dagsters_storage_loudly(
    tmp_path, monkeypatch, caplog
):
    def changed(self, conn, event, event_id, asset_key):  # a parameter more, as in a release
        raise AssertionError("never called")

    monkeypatch.setattr(SqliteEventLogStorage, "_store_asset_event", changed)
    private_api_problems.cache_clear()
    try:
        with caplog.at_level(logging.ERROR, logger="dagster"):
            storage = _instance(tmp_path / "home", True, monkeypatch).event_log_storage
        assert type(storage) is SqliteEventLogStorage
        [record] = [r for r in caplog.records if "falls back" in r.getMessage()]
        assert "_store_asset_event(self, conn, event, event_id, asset_key)" in record.getMessage()
        # And check results are aimed at the latest materialization rather than a guess.
        assert materialization_target(1, "run", 0.0) is None
    finally:
        monkeypatch.undo()
        private_api_problems.cache_clear()
    assert materialization_target(1, "run", 0.0) is not None
