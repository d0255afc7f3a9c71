"""The snapshots every day at 02:00 UTC: the REST API's group in one run, and each GraphQL
dataset in one run over all its partitions."""

import dagster as dg

from core.datasets import GRAPHQL_SNAPSHOTS, GraphQLSnapshot
from orchestration.defs.automation import DAILY_AT_2
from orchestration.defs.snapshots.jobs import GRAPHQL_JOBS, REST_DATASETS, rest_api_job
from orchestration.run_tags import range_tags

rest_api_schedule = dg.ScheduleDefinition(
    name="daily_rest_api_snapshot",
    job=rest_api_job,
    cron_schedule=DAILY_AT_2,
    execution_timezone="UTC",
    description=f"Snapshots {', '.join(REST_DATASETS)} every day at 02:00 UTC.",
)


def graphql_schedule(snapshot: GraphQLSnapshot) -> dg.ScheduleDefinition:
    """`daily_<name>_snapshot`: the dataset's job once a day; a partitioned one over every
    partition in one run, keyed by the day so that a tick runs once."""
    name, keys = snapshot.name, snapshot.partition_keys
    every = f"Every {snapshot.partition_variable}'s " if keys else "The "

    @dg.schedule(
        name=f"daily_{name}_snapshot",
        job=GRAPHQL_JOBS[name],
        cron_schedule=DAILY_AT_2,
        execution_timezone="UTC",
        description=f"{every}`{name}`, in one run, every day at 02:00 UTC.",
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        day = context.scheduled_execution_time.date().isoformat()
        tags = range_tags(keys[0], keys[-1]) if keys else {}
        return dg.RunRequest(run_key=f"{name}-{day}", tags=tags)

    return _schedule


graphql_schedules = [graphql_schedule(s) for s in GRAPHQL_SNAPSHOTS]
