"""The snapshots' jobs: `rest_api_job` runs the REST API's whole asset group; each GraphQL
dataset has its own `<name>_job` (a partition, or a range of them in one run)."""

import dagster as dg

from core.datasets import GRAPHQL_SNAPSHOTS, REST_GROUP, SNAPSHOTS, GraphQLSnapshot
from orchestration.defs.lake.assets import lake_key

# `users` is built by hand (`users_api`: it also merges the pushed users); the others are the
# declarations of the group.
REST_DATASETS = ("users", *(s.name for s in SNAPSHOTS if s.group == REST_GROUP))

rest_api_job = dg.define_asset_job(
    "rest_api_job",
    selection=dg.AssetSelection.groups(REST_GROUP),
    description=f"Snapshot the REST API's datasets: {', '.join(REST_DATASETS)}.",
)


def graphql_job(snapshot: GraphQLSnapshot):
    """`<name>_job`: the raw records, the table and its lake table."""
    name = snapshot.name
    variable = snapshot.partition_variable
    each = f" of a {variable} (or a range of them)" if variable else ""
    return dg.define_asset_job(
        f"{name}_job",
        selection=dg.AssetSelection.assets(f"raw_{name}", name, lake_key(name)),
        description=f"`{name}`{each} from the GraphQL API, and its lake table.",
    )


GRAPHQL_JOBS = {s.name: graphql_job(s) for s in GRAPHQL_SNAPSHOTS}
graphql_jobs = list(GRAPHQL_JOBS.values())
