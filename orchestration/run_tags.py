"""The run tags Dagster reads but exports no public names for, spelled here only: those of a
partition range run in one step (a single-run backfill), and the label the UI's job pages find
a job's runs by."""

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


# A job's Runs tab in the UI lists the runs of that name tagged with `<repository>@<location>`.
# Dagster tags the runs it launches so; a run executed in process (`make run`'s first runs) is
# tagged here. The location is pyproject's `code_location_name` (and workspace.yaml's), the
# repository the one `@dg.definitions` makes.
REPOSITORY_LABEL_TAG = ".dagster/repository"
CODE_LOCATION = "dataplatform"
REPOSITORY = "__repository__"


def code_location_tags() -> dict[str, str]:
    """The tags that file an in-process run under this code location's job, as launched ones
    are."""
    return {REPOSITORY_LABEL_TAG: f"{REPOSITORY}@{CODE_LOCATION}"}
