"""The schema-drift check of each declared snapshot's raw payload, against the shape its
fields expect (the tables' own checks run in their step, on each new version: `assets.py`)."""

import dagster as dg

from core.datasets import SNAPSHOTS, Snapshot
from orchestration.defs.quality import json_drift, raw_drift_check
from orchestration.defs.snapshots.assets import raw_path
from orchestration.defs.snapshots.partitions import partitions_of


def drift_check(snapshot: Snapshot) -> dg.AssetChecksDefinition:
    """`raw_<name>:schema_drift`, on each partition of a partitioned snapshot."""
    return raw_drift_check(
        f"raw_{snapshot.name}",
        json_drift(snapshot.raw_schema),
        lambda key: f"raw/{raw_path(snapshot, key)}",
        partitions_def=partitions_of(snapshot),
    )


declared_drift_checks = [drift_check(s) for s in SNAPSHOTS]
