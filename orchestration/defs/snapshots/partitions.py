"""The partitions of each partitioned snapshot: one static partition per declared key."""

import dagster as dg

from core.datasets import GRAPHQL_SNAPSHOTS, Snapshot

SNAPSHOT_PARTITIONS: dict[str, dg.StaticPartitionsDefinition] = {
    s.name: dg.StaticPartitionsDefinition(list(s.partition_keys))
    for s in GRAPHQL_SNAPSHOTS
    if s.partitioned
}


def partitions_of(snapshot: Snapshot) -> dg.StaticPartitionsDefinition | None:
    """The dataset's partitions, or None for a table snapshotted whole."""
    return SNAPSHOT_PARTITIONS.get(snapshot.name)
