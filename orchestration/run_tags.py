"""The run tags of a partition range run in one step (a single-run backfill): Dagster reads them
to plan the range, and exports no public names for them, so they are spelled here only."""

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_TAG = "dagster/partition"


def range_tags(first: str, last: str) -> dict[str, str]:
    """The tags of a run over the partitions `first` to `last`, inclusive."""
    return {RANGE_START_TAG: first, RANGE_END_TAG: last}


def partitions_of(tags: dict[str, str]) -> str | None:
    """The partition a run's tags name (`key`, or `first...last` for a range), if any."""
    if PARTITION_TAG in tags:
        return tags[PARTITION_TAG]
    first, last = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    return f"{first}...{last}" if first and last else None
